//go:build ignore

/*
 * dlopen_interpose.c — modules loaded after start-up get their tables computed too.
 *
 * dlopen is interposed, and the real call is a tail call: glibc finds the calling object
 * (for its RUNPATH, $ORIGIN and namespace) from dlopen's return address, which must stay
 * the host's.  So we cannot look at what this call loads; instead, before handing it on,
 * we look at what earlier calls loaded (and unloaded): new modules are registered, their
 * cached tables mapped, and a helper started for the rest if none of ours is at work.  A
 * module loaded by the last dlopen before a crash is found by the handler itself
 * (sigsafe/late_tables.c).  Load-time code: no thread, no signal, no descriptor left open.
 */
#include <dlfcn.h>
#include <link.h>

#include "interpose.h"
#include "sigsafe/precompute.h"
#include "sigsafe/registry.h"

typedef void *(*dlopen_fn)(const char *, int);

static _Atomic(dlopen_fn) real_dlopen;
static _Atomic unsigned long long last_adds, last_subs;

struct counters {
    unsigned long long adds, subs;
};

static int read_counters(struct dl_phdr_info *info, size_t size, void *data) {
    struct counters *c = data;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c->adds = info->dlpi_adds;
        c->subs = info->dlpi_subs;
    }
    return 1; /* the counters are the same in every entry: one is enough */
}

static void catch_up_with_the_loader(void) {
    struct counters now = {0, 0};
    dl_iterate_phdr(read_counters, &now);
    if (now.adds == atomic_load(&last_adds) && now.subs == atomic_load(&last_subs))
        return;
    atomic_store(&last_adds, now.adds);
    atomic_store(&last_subs, now.subs);
    if (cg_refresh_modules() <= 0)
        return;
    struct cg_cache_scratch scratch;
    if (cg_map_cached_tables(&scratch, 0) && !cg_helper_running())
        cg_spawn_helper(0);
}

__attribute__((visibility("default"))) void *dlopen(const char *file, int mode) {
    dlopen_fn real = atomic_load(&real_dlopen);
    if (!real) {
        real = (dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
        atomic_store(&real_dlopen, real);
    }
    if (cg_config.armed && !cg_precompute.off_reason)
        catch_up_with_the_loader();
    return real(file, mode); /* a tail call: see the comment at the top */
}
