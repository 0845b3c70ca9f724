//go:build ignore

/*
 * modules.c — the module registry at load time, from the loader's own list
 * (dl_iterate_phdr, which cannot show a half-loaded object).  At a crash the handler
 * refreshes it from the link maps instead (sigsafe/registry.c).  Load-time code.
 */
#include <link.h>
#include <sched.h>
#include <string.h>

#include "interpose.h"
#include "sigsafe/registry.h"

struct scan {
    uint8_t seen[CG_SEEN_BYTES];
    struct cg_module fresh;
    int first;
};

static int visit_module(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct scan *scan = data;
    struct cg_module *fresh = &scan->fresh;
    int program = scan->first;
    scan->first = 0;
    fresh->bias = info->dlpi_addr;
    fresh->lo = UINTPTR_MAX;
    fresh->hi = 0;
    fresh->build_id_len = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t l = info->dlpi_addr + ph->p_vaddr, h = l + ph->p_memsz;
            fresh->lo = l < fresh->lo ? l : fresh->lo;
            fresh->hi = h > fresh->hi ? h : fresh->hi;
        } else if (ph->p_type == PT_NOTE && !fresh->build_id_len) {
            cg_build_id_from_notes((const char *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz, fresh->build_id,
                                   &fresh->build_id_len);
        }
    }
    if (!fresh->hi)
        return 0;
    /* The program's name is resolved when first needed (cg_executable_path): reading
     * /proc/self/exe costs a quarter of a warm start. */
    if (program && (!info->dlpi_name || !info->dlpi_name[0]))
        fresh->path[0] = 0;
    else
        CG_JOIN(fresh->path, sizeof fresh->path, info->dlpi_name ? info->dlpi_name : "?");
    cg_register_module(fresh, scan->seen);
    return 0;
}

int cg_refresh_modules(void) {
    struct scan scan; /* on the stack: not a page of every process's .bss */
    memset(scan.seen, 0, sizeof scan.seen);
    scan.first = 1;
    while (!cg_registry_claim(1000))
        sched_yield(); /* the handler is refreshing it: a crash is being reported */
    uint32_t before = atomic_load(&cg_module_count);
    dl_iterate_phdr(visit_module, &scan);
    cg_mark_unseen_dead(scan.seen);
    uint32_t after = atomic_load(&cg_module_count);
    cg_registry_release();
    return (int)(after - before);
}
