/*
 * registry.h — the module registry: one entry per ELF object mapped in the process, with its
 * load range, build-id and (later) tables.  Filled at load from the loader's list, brought up
 * to date by the dlopen interposer and, at a crash, by the handler itself from the loader's
 * link map (read with checked reads: the loader's lock is not ours to take there).
 */
#ifndef CG_REGISTRY_H
#define CG_REGISTRY_H

#include <link.h>

#include "crashguard.h"
#include "memread.h"

/* Brings the registry in line with the loader's list (dl_iterate_phdr): new modules are
 * appended, unloaded ones marked dead.  Load-time code (takes the loader's lock); returns
 * how many entries were added. */
int cg_refresh_modules(void);

/* The same at a crash, from the link maps of every namespace (r_debug), every read checked.
 * Returns how many entries were added, or -1 when another thread is changing the registry
 * and did not finish in time (the registry is then left as it is). */
int cg_refresh_modules_at_crash(struct cg_reader *rd);

/* One writer at a time: claim the registry (waiting up to wait_ms for another thread's
 * refresh to end; never when the claimant is the caller itself), then release it. */
int cg_registry_claim(int wait_ms);
void cg_registry_release(void);

/* Which entries a refresh found loaded: one bit per entry. */
#define CG_SEEN_BYTES (CG_MAX_MODULES / 8)
static inline void cg_mark_seen(uint8_t *seen, uint32_t i) { seen[i / 8] |= (uint8_t)(1u << (i % 8)); }
static inline int cg_was_seen(const uint8_t *seen, uint32_t i) { return (seen[i / 8] >> (i % 8)) & 1; }

/* Appends fresh (or revives its dead entry, or finds it live); marks it seen.  The caller
 * holds the registry.  Returns the entry, or 0 when the registry is full. */
struct cg_module *cg_register_module(const struct cg_module *fresh, uint8_t *seen);
/* Marks every live entry (but the program's) not seen as unloaded. */
void cg_mark_unseen_dead(const uint8_t *seen);
/* The GNU build-id among the notes in p[len]; returns 0 if there is none. */
int cg_build_id_from_notes(const char *p, size_t len, uint8_t *id, uint32_t *id_len);
#endif
