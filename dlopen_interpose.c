//go:build ignore

/*
 * dlopen_interpose.c — modules loaded (and unloaded) after start-up.
 *
 * dlopen and dlclose are interposed only to send a hint; the real call is a tail call, so
 * glibc still sees the host's own call site as the caller (dlopen resolves RUNPATH, $ORIGIN
 * and the namespace from its caller's return address).  The registry itself is refreshed on
 * a Go thread (preload.watchModules) that sleeps in cg_wait_for_module_change: after a hint
 * it re-reads the loader's list with dl_iterate_phdr, which cannot see a half-loaded object.
 * A module that disappeared is marked dead before its range could be reused, so the handler
 * never attributes an address to it again.  Load-time code: never on the signal path.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "interpose.h"
#include "seam.h"
#include "sigsafe/crashguard.h"

typedef void *(*dlopen_fn)(const char *, int);
typedef int (*dlclose_fn)(void *);

static _Atomic(dlopen_fn) real_dlopen;
static _Atomic(dlclose_fn) real_dlclose;

/* Where the Go runtime does not run (all start-up tables were cached, or Go must not run
 * here, or this is a forked child whose Go threads did not survive the fork), a small C
 * thread, started on the first dlopen, does the watcher's job: refresh the registry and map
 * the new modules' cached tables.  It blocks every signal, so it never takes one meant for
 * the host. */
static _Atomic pid_t c_watcher_pid;

static void *c_watcher(void *unused) {
    (void)unused;
    prctl(PR_SET_NAME, "crashguard-dl");
    for (;;) {
        int found, total;
        cg_wait_for_module_change();
        cg_load_cached_tables(&found, &total);
        cg_module_change_handled();
    }
    return 0;
}

static void ensure_c_watcher(void) {
    pid_t me = getpid();
    if (cg_config.go_started && me == cg_config.main_tid)
        return; /* preload.watchModules does it */
    pid_t had = atomic_load(&c_watcher_pid);
    if (had == me || !atomic_compare_exchange_strong(&c_watcher_pid, &had, me))
        return;
    pthread_attr_t attr;
    pthread_t thread;
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        if (cg_real_pthread_create(&thread, &attr, c_watcher, 0) != 0)
            atomic_store(&c_watcher_pid, 0);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &saved, 0);
}

static void module_change_hint(void) {
    ensure_c_watcher();
    atomic_fetch_add(&cg_dl_hints, 1);
    syscall(SYS_futex, &cg_dl_hints, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
}

static dlopen_fn next_dlopen(void) {
    dlopen_fn real = atomic_load(&real_dlopen);
    if (!real) {
        real = (dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
        atomic_store(&real_dlopen, real);
    }
    return real;
}

void *cg_real_dlopen(const char *file, int mode) { return next_dlopen()(file, mode); }

__attribute__((visibility("default"))) void *dlopen(const char *file, int mode) {
    dlopen_fn real = next_dlopen();
    module_change_hint();
    return real(file, mode); /* a tail call: see the comment at the top */
}

__attribute__((visibility("default"))) int dlclose(void *handle) {
    dlclose_fn real = atomic_load(&real_dlclose);
    if (!real) {
        real = (dlclose_fn)dlsym(RTLD_NEXT, "dlclose");
        atomic_store(&real_dlclose, real);
    }
    module_change_hint();
    return real(handle);
}

/* ---- the registry, filled at start-up and refreshed on the watcher thread ---- */

static struct {
    unsigned long long adds, subs;
    int have;
} loader_counters;

static void read_build_id(struct cg_module *m, const ElfW(Phdr) *ph, uintptr_t bias) {
    uint32_t size;
    const char *desc = cg_find_note(ph, bias, NT_GNU_BUILD_ID, "GNU", 4, &size);
    if (desc) {
        m->build_id_len = size < CG_BUILD_ID_MAX ? size : CG_BUILD_ID_MAX;
        memcpy(m->build_id, desc, m->build_id_len);
    }
}

struct scan {
    uint8_t seen[CG_MAX_MODULES];
};

static int load_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi) {
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t l = info->dlpi_addr + ph->p_vaddr, h = l + ph->p_memsz;
        *lo = l < *lo ? l : *lo;
        *hi = h > *hi ? h : *hi;
    }
    return *hi != 0;
}

static int visit_module(struct dl_phdr_info *info, size_t size, void *data) {
    struct scan *scan = data;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        loader_counters.adds = info->dlpi_adds;
        loader_counters.subs = info->dlpi_subs;
        loader_counters.have = 1;
    }
    uintptr_t lo, hi;
    if (!load_range(info, &lo, &hi) || cg_is_go_part(info->dlpi_name))
        return 0;
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        if (cg_modules[i].lo == lo && cg_modules[i].hi == hi && cg_modules[i].bias == info->dlpi_addr) {
            scan->seen[i] = 1;
            return 0;
        }
    }
    /* Filled in the next free slot, unpublished until the count covers it (one refresher at
     * a time): no copy through a buffer of its own, one page less touched at every start. */
    static struct cg_module overflow;
    struct cg_module *fresh = n < CG_MAX_MODULES ? &cg_modules[n] : &overflow;
    memset(fresh, 0, sizeof *fresh);
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_NOTE && !fresh->build_id_len)
            read_build_id(fresh, &info->dlpi_phdr[i], info->dlpi_addr);
    if (n == 0 && (!info->dlpi_name || !info->dlpi_name[0]))
        fresh->path[0] = 0; /* the program: cg_executable_path() resolves it when first needed */
    else
        CG_JOIN(fresh->path, sizeof fresh->path, info->dlpi_name ? info->dlpi_name : "?");

    /* A library opened again after dlclose (plugin reloads, a dlopen/dlclose loop): its
     * tables are relative to its load bias and still valid, so the dead entry comes back
     * at the new addresses.  Appending instead would fill the registry and map its cache
     * file again on every cycle. */
    for (uint32_t i = 0; i < n; i++) {
        struct cg_module *m = &cg_modules[i];
        if (m->hi != 0 || !fresh->build_id_len || m->build_id_len != fresh->build_id_len ||
            memcmp(m->build_id, fresh->build_id, fresh->build_id_len) != 0 ||
            strcmp(m->path, fresh->path) != 0)
            continue;
        __atomic_store_n(&m->bias, info->dlpi_addr, __ATOMIC_RELAXED);
        __atomic_store_n(&m->lo, lo, __ATOMIC_RELAXED);
        __atomic_store_n(&m->hi, hi, __ATOMIC_RELEASE); /* last: the entry is live again */
        scan->seen[i] = 1;
        return 0;
    }

    if (n >= CG_MAX_MODULES)
        return 0;
    struct cg_module *m = &cg_modules[n];
    m->bias = info->dlpi_addr;
    m->lo = lo;
    m->hi = hi;
    scan->seen[n] = 1;
    atomic_store_explicit(&cg_module_count, n + 1, memory_order_release);
    return 0;
}

void cg_refresh_modules(void) {
    struct scan scan; /* on the stack: one page less touched at every start */
    memset(&scan, 0, sizeof scan);
    dl_iterate_phdr(visit_module, &scan);
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        if (scan.seen[i] || cg_modules[i].hi == 0)
            continue;
        /* Unloaded: take it out of every lookup before its addresses can be reused. */
        __atomic_store_n(&cg_modules[i].hi, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&cg_modules[i].lo, 0, __ATOMIC_RELEASE);
    }
}

static int loader_changed(unsigned long long adds, unsigned long long subs) {
    cg_refresh_modules();
    return !loader_counters.have || loader_counters.adds != adds || loader_counters.subs != subs;
}

/* Blocks the calling watcher thread until a dlopen or dlclose hint it has not handled yet
 * (hints sent before the watcher started count), then until the loader's list changed (or
 * ~2 s passed: a dlopen that failed changes nothing). */
static uint32_t hints_handled; /* only the one watcher thread touches it */

void cg_module_change_handled(void) { atomic_store(&cg_dl_hints_done, hints_handled); }

void cg_wait_for_module_change(void) {
    uint32_t seq;
    while ((seq = atomic_load(&cg_dl_hints)) == hints_handled)
        syscall(SYS_futex, &cg_dl_hints, FUTEX_WAIT_PRIVATE, seq, 0, 0, 0);
    hints_handled = seq;
    unsigned long long adds = loader_counters.adds, subs = loader_counters.subs;
    for (long ms = 1; ms <= 1024; ms *= 2) {
        if (loader_changed(adds, subs))
            return;
        struct timespec t = {0, ms * 1000 * 1000};
        if (ms >= 1000)
            t.tv_sec = 1, t.tv_nsec = 0;
        nanosleep(&t, 0);
    }
}
