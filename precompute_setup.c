//go:build ignore

/*
 * precompute_setup.c — at load, what the handler and the helper will need later and cannot
 * look up then (the environment and the loader are not theirs to read at a crash): the cache
 * directories, whether a helper may run here at all, the files it runs from, and the
 * environment it inherits.  Load-time code.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "interpose.h"
#include "sigsafe/precompute.h"

extern char **environ;

#define SYSTEM_CACHE_DIR "/var/cache/crashguard"
#define DEFAULT_LOADER "/lib64/ld-linux-x86-64.so.2"

/* What the helper reads of the environment (docs/cache.md, docs/crashguard.md); nothing
 * else of the host's reaches it (no LD_PRELOAD, no GODEBUG or GOGC). */
#define NAME(s) {s, sizeof s - 1}
static const struct {
    const char *prefix;
    size_t len;
} helper_env_names[] = {
    NAME("CRASHGUARD_DEBUG="), NAME("CRASHGUARD_DEBUG_DIRS="), NAME("DEBUGINFOD_URLS="),
    NAME("DEBUGINFOD_CACHE_PATH="), NAME("DEBUGINFOD_TIMEOUT="), NAME("DEBUGINFOD_MAXSIZE="),
    NAME("DEBUGINFOD_MAXTIME="), NAME("XDG_CACHE_HOME="), NAME("HOME="),
};
#undef NAME

/* One pass over the environment at every start: a variable whose first letter starts no name
 * above costs one comparison (most of them). */
static void collect_helper_env(void) {
    int n = 0;
    for (char **e = environ; e && *e && n < CG_HELPER_ENV_MAX; e++) {
        char c = **e;
        if (c != 'C' && c != 'D' && c != 'X' && c != 'H')
            continue;
        for (size_t i = 0; i < sizeof helper_env_names / sizeof helper_env_names[0]; i++)
            if (helper_env_names[i].prefix[0] == c && strncmp(*e, helper_env_names[i].prefix, helper_env_names[i].len) == 0)
                cg_precompute.env[n++] = *e;
    }
}

static void add_dir(const char *a, const char *b) {
    if (cg_precompute.ndirs < CG_CACHE_DIRS)
        CG_JOIN(cg_precompute.dirs[cg_precompute.ndirs++], CG_CACHE_DIR_MAX, a, b);
}

/* The user's directory: CRASHGUARD_CACHE_DIR as given, or else $XDG_CACHE_HOME/crashguard or
 * ~/.cache/crashguard, with a per-user fallback for accounts without a usable home
 * (/var/tmp/crashguard-<euid>; service accounts have HOME=/nonexistent); then the system
 * directory, read-only here. */
static void cache_dirs(void) {
    const char *v = getenv("CRASHGUARD_CACHE_DIR");
    if (v && *v && v[0] != '/')
        cg_config_note("CRASHGUARD_CACHE_DIR: not an absolute path, ignored");
    if (v && v[0] == '/') {
        add_dir(v, "");
    } else {
        if ((v = getenv("XDG_CACHE_HOME")) && v[0] == '/')
            add_dir(v, "/crashguard");
        else if ((v = getenv("HOME")) && v[0] == '/' && v[1])
            add_dir(v, "/.cache/crashguard");
        char uid[12];
        add_dir("/var/tmp/crashguard-", cg_decimal(uid, (unsigned)geteuid()));
    }
    cg_precompute.writable_dirs = cg_precompute.ndirs;
    add_dir(SYSTEM_CACHE_DIR, "");
}

/* The loader is the module mapped at AT_BASE; our own file comes from dladdr. */
static void helper_files(void) {
    uintptr_t base = (uintptr_t)getauxval(AT_BASE);
    uint32_t n = atomic_load(&cg_module_count);
    for (uint32_t i = 0; base && i < n; i++)
        if (cg_module_at(i)->bias == base && cg_module_at(i)->path[0] == '/')
            CG_JOIN(cg_precompute.loader, sizeof cg_precompute.loader, cg_module_at(i)->path);
    if (!cg_precompute.loader[0] && access(DEFAULT_LOADER, X_OK) == 0)
        CG_JOIN(cg_precompute.loader, sizeof cg_precompute.loader, DEFAULT_LOADER);
    Dl_info self;
    if (!dladdr((void *)cg_setup_precompute, &self) || !self.dli_fname)
        return;
    if (self.dli_fname[0] == '/') {
        CG_JOIN(cg_precompute.library, sizeof cg_precompute.library, self.dli_fname);
    } else {
        /* LD_PRELOAD=./libcrashguard.so: the helper may start after a chdir. */
        char *real = realpath(self.dli_fname, 0);
        if (real)
            CG_JOIN(cg_precompute.library, sizeof cg_precompute.library, real);
        free(real);
    }
}

void cg_setup_precompute(void) {
    if (getauxval(AT_SECURE)) {
        /* The caller's environment may not steer a setuid process, and a helper must never
         * run with privileges its caller lacked. */
        add_dir(SYSTEM_CACHE_DIR, "");
        cg_precompute.off_reason = "setuid/AT_SECURE process: only the system cache is read "
                                   "(`crashguard warm --system` fills it)";
        return;
    }
    cache_dirs();
    if (!cg_parse_switch("CRASHGUARD_HELPER", getenv("CRASHGUARD_HELPER"), 1) ||
        !cg_parse_switch("CRASHGUARD_GO", getenv("CRASHGUARD_GO"), 1)) {
        cg_precompute.off_reason = "tables are not computed here (CRASHGUARD_HELPER=off): only cached ones "
                                   "are used (`crashguard warm` caches them)";
        return;
    }
    collect_helper_env();
    helper_files();
    if (!cg_precompute.loader[0] || !cg_precompute.library[0])
        cg_precompute.off_reason = "the helper cannot be started (the dynamic loader or libcrashguard.so "
                                   "was not found)";
}
