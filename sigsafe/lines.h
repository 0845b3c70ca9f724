/*
 * lines.h — file:line and inlined calls from a module's published line table.
 */
#ifndef CG_LINES_H
#define CG_LINES_H

#include <stddef.h>

#include "crashguard.h"

/* A string of the line table: a bounded, not necessarily NUL-terminated view. */
struct cg_str {
    const char *s;
    size_t len;
};

struct cg_location {
    struct cg_str file; /* len 0: unknown */
    uint32_t line;
};

/* The validated line table of m, or NULL. */
const struct cg_lines_header *module_lines(const struct cg_module *m);

/* Where the code at ELF address vaddr came from; 0 if unknown. */
int find_line(const struct cg_lines_header *h, uint64_t vaddr, struct cg_location *loc);

/* The innermost inlined call covering vaddr, or CG_NONE. */
uint32_t find_inline(const struct cg_lines_header *h, uint64_t vaddr);

/* Record rec: its function name, its call site, and its parent (CG_NONE at the top).
 * Returns 0 for an index out of range. */
int inline_call(const struct cg_lines_header *h, uint32_t rec, struct cg_str *name,
                struct cg_location *call_site, uint32_t *parent);
#endif
