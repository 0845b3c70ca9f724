/*
 * memread.h — checked reads for the handler.  Every word the handler reads from memory it
 * does not own (stacks, registers' targets) goes through here, so a corrupt frame pointer or
 * a wild return address ends a walk instead of faulting inside the handler.
 */
#ifndef CG_MEMREAD_H
#define CG_MEMREAD_H

#include <stdint.h>

#define CG_READER_PAGES 16

struct cg_reader {
    uintptr_t readable[CG_READER_PAGES]; /* pages already proven readable */
    unsigned next;
};

void reader_init(struct cg_reader *r);
/* Reads the 8-byte word at addr into *out; returns 0 if the memory is not readable. */
int read_word(struct cg_reader *r, uintptr_t addr, uintptr_t *out);
#endif
