#ifndef CG_MAPS_H
#define CG_MAPS_H

#include <stdint.h>

#include "out.h"

/* Prints the /proc/self/maps lines holding fault (when has_fault) or any of addrs[n]. */
void write_relevant_maps(struct cg_out *o, uintptr_t fault, int has_fault, const uintptr_t *addrs,
                         int n);
#endif
