/*
 * symbols.h — address → module → symbol, reading only the registry and published tables.
 */
#ifndef CG_SYMBOLS_H
#define CG_SYMBOLS_H

#include "crashguard.h"

/* Rows of `count` records of `stride` bytes, each starting with a uint32_t address, sorted:
 * the index of the last one whose address is <= key, or count when none is. */
uint32_t last_row_at_or_before(const void *rows, uint32_t count, size_t stride, uint64_t key);

/* The module whose PT_LOAD range holds addr, or NULL. */
const struct cg_module *find_module(uintptr_t addr);

/* Unlinks m's cache file after its checksum failed, if the name still names that file. */
void cg_remove_corrupt_cache_file(const struct cg_module *m);

/* Whether m's tables came from a cache file whose checksum does not match (checked once). */
int module_cache_corrupt(const struct cg_module *m);

/* A published table of the given kind (enum cg_table_kind), not yet validated, and in *len
 * the bytes its cache file gives it (every bound must lie within); or NULL. */
const void *module_table(const struct cg_module *m, int kind, uint64_t *len);

/* The published, validated symbol table of m, or NULL while none is ready. */
const struct cg_symtab_header *module_symtab(const struct cg_module *m);

/* Name of the function holding ELF address vaddr in m; NULL if unknown.
 * *offset receives vaddr - start; *name_max bounds the name's length. */
const char *find_symbol(const struct cg_module *m, uint64_t vaddr, uint64_t *offset,
                        size_t *name_max);
/* The published, validated unwind table of m, or NULL. */
const struct cg_unwind_header *module_unwind(const struct cg_module *m);

/* The rule covering ELF address vaddr in m, or NULL (no table, or no row). */
const struct cg_unwind_rule *find_unwind_rule(const struct cg_module *m, uint64_t vaddr);
#endif
