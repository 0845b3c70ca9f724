/*
 * memread.h — checked reads for the handler.  Every word the handler reads from memory it
 * does not own (stacks, registers' targets) goes through here, so a corrupt frame pointer or
 * a wild return address ends a walk instead of faulting inside the handler.
 */
#ifndef CG_MEMREAD_H
#define CG_MEMREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CG_READER_PAGES 16
#define CG_READER_BLOCKS 2
#define CG_READER_BLOCK_SIZE 128 /* a power of two dividing the page size */

struct cg_reader {
    pid_t pid;
    /* Copies of memory already read, CG_READER_BLOCK_SIZE-aligned (a walk reads a few
     * adjacent words per frame, upwards): one system call serves several frames. */
    uintptr_t block_addr[CG_READER_BLOCKS]; /* 1: empty (never a block address) */
    unsigned char block[CG_READER_BLOCKS][CG_READER_BLOCK_SIZE];
    unsigned next_block;
    /* Only where the kernel refuses process_vm_readv: pages already proven readable. */
    uintptr_t readable[CG_READER_PAGES];
    unsigned next_page;
};

void reader_init(struct cg_reader *r);
/* Reads the 8-byte word at addr into *out; returns 0 if the memory is not readable. */
int read_word(struct cg_reader *r, uintptr_t addr, uintptr_t *out);

/* Copies up to n bytes at addr into dst, page by page, and stops at the first page that is
 * not readable; returns how many bytes were copied (0 if addr itself is unreadable).  For
 * bulk copies of stacks and memory windows (the minidump), by the kernel as read_word. */
size_t cg_read_memory(void *dst, uintptr_t addr, size_t n);
#endif
