//go:build ignore

/*
 * report_setup.c — what the report needs from load time (sigsafe/context.h), gathered by the
 * constructor: the options that shape reports (CRASHGUARD_TAGS, CRASHGUARD_REDACT,
 * CRASHGUARD_STDERR_LIMIT) and bound them (CRASHGUARD_STORM_LIMIT, CRASHGUARD_MAX_FILES,
 * CRASHGUARD_MAX_USE), and the two addresses the handler reads an abort's message from,
 * which only the dynamic loader can give and the handler may not ask it for (the loader
 * takes locks and may allocate).  Everything here is cheap: a warm start pays one symbol
 * lookup (glibc's), and a C++ program a second one and a call.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>

#include "interpose.h"
#include "sigsafe/context.h"
#include "sigsafe/symbols.h"

#define TAG_KEY_MAX 32
#define TAG_VALUE_MAX 128
#define STDERR_LIMIT_MIN 4096
/* A crash loop's bounds by default: a service restarted by systemd every 100 ms would crash
 * 600 times a minute (docs/crashguard.md). */
#define DEFAULT_STORM_LIMIT 10
#define DEFAULT_STORM_WINDOW 60
#define DEFAULT_MAX_FILES 100
#define DEFAULT_MAX_USE (256ull << 20)

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
/* A size in bytes, or with K, M or G (KiB, MiB, GiB; a trailing B or iB is allowed). */
static int parse_size(const char *v, unsigned long long *out) {
    char *end = 0;
    unsigned long long n = strtoull(v, &end, 10), unit = 1;
    if (end && (*end == 'K' || *end == 'k'))
        unit = 1ull << 10, end++;
    else if (end && (*end == 'M' || *end == 'm'))
        unit = 1ull << 20, end++;
    else if (end && (*end == 'G' || *end == 'g'))
        unit = 1ull << 30, end++;
    if (end && unit > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (!end || end == v || *end || v[0] == '-' || v[0] == '+' || n > (1ull << 50) / unit)
        return 0;
    *out = n * unit;
    return 1;
}

void cg_parse_stderr_limit(const char *v) {
    cg_report_setup.stderr_limit = 0;
    if (!v || !*v)
        return;
    unsigned long long n;
    if (!parse_size(v, &n) || n > (1ull << 40)) {
        cg_config_note("CRASHGUARD_STDERR_LIMIT: not a size (bytes, or with K or M), no bound");
        return;
    }
    if (n < STDERR_LIMIT_MIN) {
        cg_config_note("CRASHGUARD_STDERR_LIMIT: below 4K, using 4K");
        n = STDERR_LIMIT_MIN;
    }
    cg_report_setup.stderr_limit = (size_t)n;
}

/* The spellings of "no limit". */
static int unlimited(const char *v) {
    static const char *const words[] = {"off", "0", "false", "no", "none", "unlimited"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(v, words[i]) == 0)
            return 1;
    return 0;
}

/* A count: decimal digits only, 1 to max. */
static int parse_count(const char *v, size_t len, unsigned long max, unsigned long *out) {
    unsigned long n = 0;
    if (!len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || n > max)
            return 0;
        n = n * 10 + (unsigned long)(v[i] - '0');
    }
    if (!n || n > max)
        return 0;
    *out = n;
    return 1;
}

/* N or N/WINDOW, the window in seconds or with s, m, h. */
static int parse_storm(const char *v, uint32_t *limit, uint32_t *window) {
    const char *slash = strchr(v, '/');
    unsigned long n, w = DEFAULT_STORM_WINDOW;
    if (!parse_count(v, slash ? (size_t)(slash - v) : strlen(v), 1000000, &n))
        return 0;
    if (slash) {
        const char *d = slash + 1;
        size_t len = strlen(d);
        unsigned long unit = 1;
        if (len && (d[len - 1] == 's' || d[len - 1] == 'm' || d[len - 1] == 'h')) {
            unit = d[len - 1] == 'h' ? 3600 : d[len - 1] == 'm' ? 60 : 1;
            len--;
        }
        if (!parse_count(d, len, 86400, &w) || w * unit > 86400)
            return 0;
        w *= unit;
    }
    *limit = (uint32_t)n;
    *window = (uint32_t)w;
    return 1;
}

/* What keeps a crash loop from filling a disk or a journal (sigsafe/limits.c): each has a
 * default, an off spelling, and an invalid value is the default with a note. */
void cg_parse_limits(const char *storm, const char *files, const char *use) {
    cg_report_setup.storm_limit = DEFAULT_STORM_LIMIT;
    cg_report_setup.storm_window = DEFAULT_STORM_WINDOW;
    if (storm && *storm) {
        if (unlimited(storm))
            cg_report_setup.storm_limit = 0;
        else if (!parse_storm(storm, &cg_report_setup.storm_limit, &cg_report_setup.storm_window))
            cg_config_note("CRASHGUARD_STORM_LIMIT: not N or N/WINDOW (10/60s), so 10/60s");
    }
    cg_report_setup.max_files = DEFAULT_MAX_FILES;
    if (files && *files) {
        unsigned long n;
        if (unlimited(files))
            cg_report_setup.max_files = 0;
        else if (parse_count(files, strlen(files), 1000000000, &n))
            cg_report_setup.max_files = (uint32_t)n;
        else
            cg_config_note("CRASHGUARD_MAX_FILES: not a count, so 100");
    }
    cg_report_setup.max_use = DEFAULT_MAX_USE;
    if (use && *use) {
        unsigned long long n;
        if (unlimited(use))
            cg_report_setup.max_use = 0;
        else if (parse_size(use, &n) && n)
            cg_report_setup.max_use = n;
        else
            cg_config_note("CRASHGUARD_MAX_USE: not a size (bytes, or with K, M or G), so 256M");
    }
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
