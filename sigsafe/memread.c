//go:build ignore

#include "memread.h"

#include <errno.h>
#include <signal.h>

#include "sys.h"

#define PAGE_MASK (~(uintptr_t)4095)

void reader_init(struct cg_reader *r) {
    for (unsigned i = 0; i < CG_READER_PAGES; i++)
        r->readable[i] = 1; /* never a page address */
    r->next = 0;
}

/* The kernel copies the new mask from user memory before it validates `how`, so an invalid
 * `how` turns rt_sigprocmask into a side-effect-free readability probe: EFAULT for
 * unreadable memory, EINVAL for readable.  A plain load would fault inside the handler.
 * Issued directly, the probe leaves errno alone: the threads asked for their backtraces
 * run it in the middle of the host's code. */
static int probe(uintptr_t addr) {
    return CG_SC(SYS_rt_sigprocmask, ~0, addr, 0, sizeof(cg_sigset), 0, 0) == -EINVAL;
}

static int page_readable(struct cg_reader *r, uintptr_t page) {
    for (unsigned i = 0; i < CG_READER_PAGES; i++)
        if (r->readable[i] == page)
            return 1;
    if (!probe(page))
        return 0;
    r->readable[r->next] = page;
    r->next = (r->next + 1) % CG_READER_PAGES;
    return 1;
}

int read_word(struct cg_reader *r, uintptr_t addr, uintptr_t *out) {
    if (addr < 4096 || addr > UINTPTR_MAX - 8)
        return 0;
    uintptr_t first = addr & PAGE_MASK, last = (addr + 7) & PAGE_MASK;
    if (!page_readable(r, first) || (last != first && !page_readable(r, last)))
        return 0;
    __builtin_memcpy(out, (const void *)addr, sizeof *out);
    return 1;
}
