//go:build ignore

/*
 * signature.c — a short, stable name for the bug, for grouping in a log pipeline
 * (docs/report.md, "The signature", specifies it):
 *
 *   1. Frames of the crashing thread, innermost first.  Left out: the leading run of crash
 *      machinery (raise, abort, __assert_fail, __stack_chk_fail, __fortify_fail, the malloc
 *      error path, std::terminate, __cxa_throw, Rust's panic machinery ...: the way from the
 *      bug to the signal, the same for every bug), and anywhere the signal trampoline, our
 *      own frames and the frames every thread starts with (_start, __libc_start_main,
 *      start_thread, clone, Rust's lang_start: how far a walk gets towards them depends on
 *      the unwind information, not on the bug).
 *   2. Of those, the innermost five in the program's own modules — any but the C and C++
 *      runtime's (libc, the loader, libstdc++, libgcc_s, ..., the vDSO), whose frames are
 *      the same for every bug that passes through them and whose names change with the CPU
 *      (strlen is __strlen_avx2 or __strlen_evex) — or, when there are none, the innermost
 *      five left.
 *   3. FNV-1a 64 of the signal name, the C++ exception type if one was in flight, and per
 *      frame the module's file name and the function's name without offsets, compiler clone
 *      suffixes or Rust's hash — or, in a module without symbols, its offset in the module.
 *      Nothing ASLR moves goes in: the same crash gives the same signature in every run and
 *      on every host, whatever the load addresses.
 */
#include "signature.h"

#include "out.h"
#include "symbols.h"

#define SIGNATURE_FRAMES 5

/* Crash machinery by function name (demangled; compared without parameters and clone
 * suffixes).  An entry ending in '*' is a prefix. */
static const char *const machinery[] = {
    /* raising the signal */
    "raise", "abort", "__pthread_kill_implementation", "__pthread_kill_internal", "pthread_kill",
    "__pthread_kill", "gsignal", "kill", "tgkill",
    /* glibc's checks */
    "__assert_fail", "__assert_fail_base", "__assert_perror_fail", "__libc_message", "__libc_fatal",
    "__fortify_fail", "__chk_fail", "__stack_chk_fail", "__stack_chk_fail_local", "__*_chk",
    /* glibc's malloc error path */
    "malloc_printerr", "_int_free", "_int_free_merge_chunk", "_int_free_create_chunk",
    "_int_free_maybe_consolidate", "_int_malloc", "_int_realloc", "_int_memalign", "unlink_chunk",
    "malloc_consolidate", "tcache_*", "__libc_free", "__libc_malloc", "__libc_realloc",
    "__libc_calloc", "free", "malloc", "realloc", "calloc", "cfree",
    /* C++ */
    "std::terminate", "__cxxabiv1::__terminate", "__cxxabiv1::__unexpected",
    "__gnu_cxx::__verbose_terminate_handler", "__cxa_throw", "__cxa_rethrow", "__cxa_call_terminate",
    "__cxa_call_unexpected", "__cxa_pure_virtual", "__cxa_deleted_virtual", "__cxa_bad_cast",
    "__cxa_bad_typeid", "__cxa_throw_bad_array_new_length", "std::rethrow_exception", "std::__throw_*",
    "_Unwind_*", "__gxx_personality_v0",
    /* Rust */
    "core::panicking::*", "std::panicking::*", "core::panic::*", "std::panic::*",
    "core::result::unwrap_failed", "core::option::unwrap_failed", "core::option::expect_failed",
    "core::slice::index::*_fail", "std::process::abort", "std::sys::*", "std::sys_common::*",
    "std::rt::*", "rust_panic", "rust_begin_unwind", "__rust_start_panic", "__rust_abort",
    "__rustc::*", "panic_abort::*", "panic_unwind::*",
};

/* Where every thread starts: the same in every stack, skipped wherever they are (how far a
 * walk gets towards them depends on the unwind information, not on the bug). */
static const char *const entry[] = {
    "_start", "__libc_start_main", "__libc_start_call_main", "start_thread", "clone", "clone3",
    "__clone", "__clone3", "__clone_internal", "std::rt::lang_start*", "std::rt::lang_start_internal*",
    "std::sys::backtrace::__rust_begin_short_backtrace*", "std::sys_common::backtrace::__rust_begin_short_backtrace*",
    "core::ops::function::*", "std::thread::Builder::spawn_unchecked_*",
};

/* The C and C++ runtime, by file name. */
static const char *const runtime_modules[] = {
    "libc.so", "libc-", "libm.so", "libm-", "libpthread", "libdl.so", "librt.so", "libresolv",
    "ld-linux", "ld64.so", "libstdc++", "libgcc_s", "libc++", "libunwind", "linux-vdso", "linux-gate",
    "libasan", "libubsan", "libtsan", "liblsan", "libjemalloc", "libtcmalloc", "libmimalloc",
};

static int has_prefix(const char *s, size_t n, const char *prefix, size_t plen) {
    if (plen > n)
        return 0;
    for (size_t i = 0; i < plen; i++)
        if (s[i] != prefix[i])
            return 0;
    return 1;
}

const char *cg_module_name(const struct cg_module *m) {
    return cg_base_name(m == cg_module_at(0) ? cg_executable_path() : m->path);
}

int cg_runtime_module(const struct cg_module *m) {
    const char *base = cg_module_name(m);
    size_t n = cg_strlen(base);
    for (size_t i = 0; i < sizeof runtime_modules / sizeof runtime_modules[0]; i++)
        if (has_prefix(base, n, runtime_modules[i], cg_strlen(runtime_modules[i])))
            return 1;
    return 0;
}

/* The name as it goes into the signature: without "[clone .cold]" (C++) or ".cold",
 * ".part.0", ".isra.0", ".constprop.0" (C) — the compiler's splitting changes with its
 * version and flags — and without Rust's "::h<16 hex digits>" hash. */
size_t cg_signature_name_len(const char *name, size_t n) {
    static const char *const cuts[] = {" [clone ", ".cold", ".part.", ".isra.", ".constprop.", ".lto_priv."};
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
            if (has_prefix(name + i, n - i, cuts[c], cg_strlen(cuts[c]))) {
                n = i;
                break;
            }
    if (n > 19 && name[n - 19] == ':' && name[n - 18] == ':' && name[n - 17] == 'h') {
        int hex = 1;
        for (size_t i = n - 16; i < n && hex; i++)
            hex = (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f');
        if (hex)
            n -= 19;
    }
    return n;
}

/* Whether name is in list; compared without the parameter list: "std::terminate()" is
 * std::terminate. */
static int name_in(const char *const *list, size_t count, const char *name, size_t n) {
    size_t base = 0;
    while (base < n && name[base] != '(')
        base++;
    for (size_t i = 0; i < count; i++) {
        const char *m = list[i];
        size_t len = cg_strlen(m);
        const char *star = 0;
        for (size_t j = 0; j < len; j++)
            if (m[j] == '*')
                star = m + j;
        if (!star) {
            if (len == base && has_prefix(name, base, m, len))
                return 1;
            continue;
        }
        /* prefix*suffix */
        size_t pre = (size_t)(star - m), suf = len - pre - 1;
        if (base >= pre + suf && has_prefix(name, base, m, pre) && has_prefix(name + base - suf, suf, star + 1, suf))
            return 1;
    }
    return 0;
}

void cg_signature_frame(const struct cg_frame *f, struct cg_signature_frame *out) {
    out->module = find_module(f->pc);
    out->name = 0;
    out->name_len = 0;
    out->offset = out->module ? f->pc - out->module->bias : 0;
    out->trampoline = f->how == CG_FRAME_SIGTRAMP;
    if (!out->module || out->trampoline)
        return;
    uintptr_t lookup = f->how == CG_FRAME_CONTEXT ? f->pc : f->pc - 1;
    uint64_t off = 0;
    size_t max = 0;
    out->name = find_symbol(out->module, lookup - out->module->bias, &off, &max);
    if (out->name)
        out->name_len = cg_signature_name_len(out->name, cg_strnlen(out->name, max));
}

static void hash_bytes(uint64_t *h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        *h ^= (unsigned char)p[i];
        *h *= 0x100000001b3ull;
    }
}

uint64_t cg_crash_signature(const struct cg_stack *s, const char *signal, const char *exception_type,
                            struct cg_signature_frame *chosen, int *nchosen) {
    static struct cg_signature_frame frames[CG_STACK_HEAD];
    const struct cg_module *self = find_module((uintptr_t)&cg_crash_signature);
    int n = 0;
    struct cg_frame f;
    for (uint64_t i = 0; i < s->total && i < CG_STACK_HEAD && stack_frame(s, i, &f); i++)
        cg_signature_frame(&f, &frames[n++]);
    int first = 0; /* past the leading machinery */
    while (first < n && (frames[first].trampoline || (frames[first].module && frames[first].module == self) ||
                         (frames[first].name && name_in(machinery, sizeof machinery / sizeof machinery[0],
                                                          frames[first].name, frames[first].name_len))))
        first++;
    /* Pass 0: the program's own frames past the machinery; 1: any past it; 2: any at all
     * (nothing but machinery: a crash inside abort() itself). */
    *nchosen = 0;
    for (int pass = 0; pass < 3 && *nchosen == 0; pass++) {
        for (int i = pass == 2 ? 0 : first; i < n && *nchosen < SIGNATURE_FRAMES; i++) {
            const struct cg_signature_frame *c = &frames[i];
            if (c->trampoline || (c->module && c->module == self) ||
                (c->name && name_in(entry, sizeof entry / sizeof entry[0], c->name, c->name_len)))
                continue;
            if (pass == 0 && c->module && cg_runtime_module(c->module))
                continue;
            chosen[(*nchosen)++] = *c;
        }
    }
    uint64_t h = 0xcbf29ce484222325ull;
    hash_bytes(&h, signal, cg_strlen(signal));
    hash_bytes(&h, "\n", 1);
    if (exception_type && *exception_type) {
        hash_bytes(&h, exception_type, cg_strlen(exception_type));
        hash_bytes(&h, "\n", 1);
    }
    for (int i = 0; i < *nchosen; i++) {
        const struct cg_signature_frame *c = &chosen[i];
        if (!c->module) {
            hash_bytes(&h, "??\n", 3);
            continue;
        }
        const char *mod = cg_module_name(c->module);
        hash_bytes(&h, mod, cg_strlen(mod));
        hash_bytes(&h, "!", 1);
        if (c->name) {
            hash_bytes(&h, c->name, c->name_len);
        } else {
            char hex[18];
            int k = (int)sizeof hex;
            uint64_t v = c->offset;
            do
                hex[--k] = "0123456789abcdef"[v & 15];
            while ((v >>= 4) && k > 2);
            hex[--k] = 'x';
            hex[--k] = '0';
            hash_bytes(&h, "+", 1);
            hash_bytes(&h, hex + k, sizeof hex - (size_t)k);
        }
        hash_bytes(&h, "\n", 1);
    }
    return h;
}
