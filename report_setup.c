//go:build ignore

/*
 * report_setup.c — what the report needs from load time (sigsafe/context.h), gathered by the
 * constructor: the options that shape reports (CRASHGUARD_TAGS, CRASHGUARD_REDACT,
 * CRASHGUARD_STDERR_LIMIT), and the two addresses the handler reads an abort's message from,
 * which only the dynamic loader can give and the handler may not ask it for (the loader
 * takes locks and may allocate).  Everything here is cheap: a warm start pays one symbol
 * lookup (glibc's), and a C++ program a second one and a call.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "interpose.h"
#include "sigsafe/context.h"
#include "sigsafe/symbols.h"

#define TAG_KEY_MAX 32
#define TAG_VALUE_MAX 128
#define STDERR_LIMIT_MIN 4096

static int tag_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* key=value,key=value: keys of letters, digits and '_' (they become journal field names,
 * CRASHGUARD_TAG_<KEY>), values without commas or control characters.  Invalid ones are
 * noted and left out; the valid ones are kept. */
void cg_parse_tags(const char *v) {
    char *out = cg_report_setup.tags;
    size_t used = 0;
    out[0] = 0;
    if (!v || !*v)
        return;
    char note[CG_NOTE_MAX];
    for (const char *p = v; *p;) {
        const char *start = p;
        while (*p && *p != ',')
            p++;
        size_t len = (size_t)(p - start);
        if (*p == ',')
            p++;
        if (!len)
            continue;
        const char *eq = memchr(start, '=', len);
        size_t klen = eq ? (size_t)(eq - start) : 0, vlen = eq ? len - klen - 1 : 0;
        int ok = eq && klen > 0 && klen <= TAG_KEY_MAX && vlen <= TAG_VALUE_MAX;
        for (size_t i = 0; ok && i < klen; i++)
            ok = tag_key_char(start[i]);
        for (size_t i = 0; ok && i < vlen; i++)
            ok = (unsigned char)eq[1 + i] >= 0x20 && eq[1 + i] != 0x7f;
        if (ok && used + len + 1 < CG_TAGS_MAX) {
            if (used)
                out[used++] = ',';
            memcpy(out + used, start, len);
            used += len;
            out[used] = 0;
        } else {
            int shown = (int)(len < 30 ? len : 30);
            if (ok)
                snprintf(note, sizeof note, "CRASHGUARD_TAGS: more than %d bytes of tags, '%.*s' left out",
                         CG_TAGS_MAX - 1, shown, start);
            else
                snprintf(note, sizeof note, "CRASHGUARD_TAGS: '%.*s' is not key=value (key: letters, digits, _)",
                         shown, start);
            cg_config_note(note);
        }
    }
}

/* registers, addresses (comma-separated): left out of every report, whatever the
 * destination (docs/security.md). */
void cg_parse_redact(const char *v) {
    cg_report_setup.redact_registers = cg_report_setup.redact_addresses = 0;
    if (!v || !*v)
        return;
    char list[256], note[CG_NOTE_MAX], *save = 0;
    snprintf(list, sizeof list, "%s", v);
    for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(0, ", ", &save)) {
        if (strcmp(tok, "registers") == 0) {
            cg_report_setup.redact_registers = 1;
        } else if (strcmp(tok, "addresses") == 0) {
            cg_report_setup.redact_addresses = 1;
        } else {
            snprintf(note, sizeof note, "CRASHGUARD_REDACT: '%.30s' is not registers or addresses", tok);
            cg_config_note(note);
        }
    }
}

/* Bytes, with an optional K or M (KiB, MiB): the bound of a report on stderr. */
void cg_parse_stderr_limit(const char *v) {
    cg_report_setup.stderr_limit = 0;
    if (!v || !*v)
        return;
    char *end = 0;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned long long unit = 1;
    if (end && (*end == 'K' || *end == 'k'))
        unit = 1024, end++;
    else if (end && (*end == 'M' || *end == 'm'))
        unit = 1024 * 1024, end++;
    if (end && unit > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (!end || end == v || *end || v[0] == '-' || n > (1ull << 40) / unit) {
        cg_config_note("CRASHGUARD_STDERR_LIMIT: not a size (bytes, or with K or M), no bound");
        return;
    }
    n *= unit;
    if (n < STDERR_LIMIT_MIN) {
        cg_config_note("CRASHGUARD_STDERR_LIMIT: below 4K, using 4K");
        n = STDERR_LIMIT_MIN;
    }
    cg_report_setup.stderr_limit = (size_t)n;
}

static int module_named(const char *prefix) {
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    size_t len = strlen(prefix);
    for (uint32_t i = 1; i < n; i++) {
        const struct cg_module *m = cg_module_at(i);
        const char *slash = strrchr(m->path, '/');
        const char *base = slash ? slash + 1 : m->path;
        if (m->hi && strncmp(base, prefix, len) == 0)
            return 1;
    }
    return 0;
}

static uintptr_t thread_pointer(void) {
#if defined(__x86_64__)
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    return tp;
#else
    return (uintptr_t)__builtin_thread_pointer();
#endif
}

/* After the registry is filled.  __abort_msg is private to glibc (GLIBC_PRIVATE): asked for
 * by that version, so that a program's own symbol of that name is never taken for it; a
 * glibc without it (or another C library) leaves the message out.
 *
 * libstdc++'s __cxa_get_globals() returns the calling thread's exception state through
 * __tls_get_addr, which may allocate (a thread's first access to a dlopen'd module's TLS, a
 * stale TLS generation): not for the signal path.  A module loaded at start has its TLS in
 * the static TLS block, at the same offset from every thread's thread pointer; one call
 * here, in the main thread, gives that offset.  A libstdc++ loaded later with dlopen has
 * dynamic TLS and no such offset: its exceptions are not read (the report says so). */
void cg_setup_report(void) {
    cg_report_setup.secure = getauxval(AT_SECURE) != 0;
    cg_report_setup.clock_ticks = (long)getauxval(AT_CLKTCK);
    cg_report_setup.abort_msg = dlvsym(RTLD_DEFAULT, "__abort_msg", "GLIBC_PRIVATE");
    cg_report_setup.cxa_state = 0;
    if (!module_named("libstdc++"))
        return;
    cg_report_setup.cxa_state = 2;
    void *(*get_globals)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "__cxa_get_globals");
    const struct cg_module *m = get_globals ? find_module((uintptr_t)get_globals) : 0;
    const char *slash = m ? strrchr(m->path, '/') : 0;
    if (!m || strncmp(slash ? slash + 1 : m->path, "libstdc++", 9) != 0)
        return; /* libc++abi's (another layout) or none */
    void *globals = get_globals();
    if (!globals)
        return;
    cg_report_setup.cxa_globals_tpoff = (intptr_t)((uintptr_t)globals - thread_pointer());
    cg_report_setup.cxa_state = 1;
}
