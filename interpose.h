/* Load-time helpers shared by the constructors and the pthread_create interposer. */
#ifndef CG_INTERPOSE_H
#define CG_INTERPOSE_H
#include <stddef.h>
size_t cg_alt_stack_size(void);
/* Gives the calling thread an alternate signal stack unless it has one; returns the mapping. */
void *cg_install_alt_stack(void);
#endif
