#ifndef CG_MAPS_H
#define CG_MAPS_H

#include <stdint.h>

#include "out.h"

/* The address range of the alternate-stack pool's chunk k (pthread_interpose.c); 0 past
 * the last. */
int cg_alt_stack_pool_range(uint32_t k, uintptr_t *lo, uintptr_t *hi);

/* Whether [lo, hi) overlaps a mapping of ours: the library itself, the alternate-stack
 * pool, a cache file or a helper's memfd archive. */
int cg_own_mapping(uintptr_t lo, uintptr_t hi);

/* Prints the /proc/self/maps lines holding fault (when has_fault) or any of addrs[n]. */
void write_relevant_maps(struct cg_out *o, uintptr_t fault, int has_fault, const uintptr_t *addrs,
                         int n);
#endif
