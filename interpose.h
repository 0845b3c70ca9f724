/* Load-time helpers shared by the constructors and the pthread_create interposer. */
#ifndef CG_INTERPOSE_H
#define CG_INTERPOSE_H
#include <stddef.h>
size_t cg_alt_stack_size(void);
/* Gives the calling thread an alternate signal stack unless it has one; returns the mapping. */
void *cg_install_alt_stack(void);
/* Brings the module registry in line with the loader's list (new modules appended,
 * unloaded ones marked dead).  One caller at a time. */
void cg_refresh_modules(void);
/* Blocks until a dlopen/dlclose hint and the loader's list changed (the Go watcher). */
void cg_wait_for_module_change(void);
#endif
