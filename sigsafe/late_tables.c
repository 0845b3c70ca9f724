//go:build ignore

/*
 * late_tables.c — before a report: tables that appeared since load.
 *
 * A crash may come before the helper started at load has written its tables (a crash in the
 * first millisecond), in a module opened with dlopen since, in a forked child, or in a
 * process whose helper could not write anything at load.  So the handler, with system calls
 * only: brings the registry up to date from the loader's link maps, maps every cache file
 * that has appeared, starts a helper if modules are still missing and none is at work, and
 * waits for it, bounded — names are worth a short wait, and the builder is another process,
 * which no lock held by the crashing thread can stop.
 */
#include <errno.h>

#include "memread.h"
#include "precompute.h"
#include "registry.h"
#include "sys.h"

#define POLL_MS 10

static struct cg_reader reader;
static struct cg_cache_scratch scratch;
static struct cg_build_locks locks;
static int gave_up_waiting; /* for the notes: tables were still being built */

static int missing_module(const struct cg_module *m) {
    return m->hi && m->build_id_len >= 2 &&
           atomic_load_explicit(&m->tables[CG_TABLE_SYMBOLS].state, memory_order_acquire) == CG_SYMTAB_PENDING;
}

/* How many missing tables some helper (ours or another process's) is building: it holds
 * their build locks.  *unclaimed: how many no one is. */
static int being_built(int *unclaimed) {
    int building = 0;
    *unclaimed = 0;
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    cg_open_build_locks(&locks);
    for (uint32_t i = 0; i < n; i++) {
        if (!missing_module(cg_module_at(i)))
            continue;
        if (cg_tables_being_built(&locks, cg_module_at(i)))
            building++;
        else
            ++*unclaimed;
    }
    cg_close_build_locks(&locks);
    return building;
}

/* Tables still missing may yet come while some helper holds their build locks, or while
 * ours runs at all (it exits when done; before taking its locks it is only alive). */
static int tables_coming(void) {
    int unclaimed;
    return being_built(&unclaimed) > 0 || cg_helper_running();
}

void cg_tables_at_crash(int wait_ms) {
    int saved_errno = errno;
    reader_init(&reader);
    cg_refresh_modules_at_crash(&reader);
    int missing = cg_map_cached_tables(&scratch, 1);
    /* Modules no helper was asked for (opened since the last one started): a helper of their
     * own, at normal priority. */
    if (missing && !cg_precompute.off_reason)
        cg_spawn_helper(1);
    for (int waited = 0; missing && waited < wait_ms; waited += POLL_MS) {
        if (!tables_coming()) {
            missing = cg_map_cached_tables(&scratch, 1); /* written just before it ended */
            break;
        }
        cg_sys_sleep_ms(POLL_MS);
        missing = cg_map_cached_tables(&scratch, 1);
    }
    gave_up_waiting = missing && tables_coming();
    errno = saved_errno;
}

static const char *errno_words(int e) {
    switch (e) {
    case EAGAIN: return "the helper could not be started: process limit reached (RLIMIT_NPROC or pids.max)";
    case ENOMEM: return "the helper could not be started: out of memory";
    case EPERM: return "the helper could not be started: not permitted (a seccomp filter or a security module)";
    default: return "the helper could not be started (clone or execve failed)";
    }
}

const char *cg_why_no_tables(const struct cg_module *m) {
    if (m->build_id_len < 2)
        return "no build-id, so no cached tables (link with --build-id)";
    if (cg_precompute.off_reason)
        return cg_precompute.off_reason;
    if (!cg_precompute.writable_dirs)
        return "no cache directory could be used to compute its tables (HOME unset or read-only, "
               "/var/tmp not usable): `crashguard warm --system` caches them for every user";
    if (gave_up_waiting)
        return "tables not ready when the report was written: the helper was still at work "
               "(they will be there for the next crash)";
    if (cg_precompute.spawn_error)
        return errno_words(cg_precompute.spawn_error);
    return "the helper ended without caching its tables (CRASHGUARD_DEBUG=1 shows why)";
}
