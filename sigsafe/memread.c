//go:build ignore

#include "memread.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>

#include "sys.h"

#define PAGE_MASK (~(uintptr_t)4095)
#define BLOCK_MASK (~(uintptr_t)(CG_READER_BLOCK_SIZE - 1))

/* Set when the kernel refused process_vm_readv (a seccomp filter, a kernel without it):
 * reads fall back to probing each page first. */
static _Atomic int own_memory_reads_refused;

void reader_init(struct cg_reader *r) {
    r->pid = cg_sys_getpid();
    for (unsigned i = 0; i < CG_READER_BLOCKS; i++)
        r->block_addr[i] = 1;
    r->next_block = 0;
    for (unsigned i = 0; i < CG_READER_PAGES; i++)
        r->readable[i] = 1; /* never a page address */
    r->next_page = 0;
}

/* The block at addr, copied by the kernel: a page another thread unmaps between a check
 * and a load cannot fault inside the handler, because there is no load.  Returns 0 when
 * unreadable; sets own_memory_reads_refused when the kernel will not do it at all. */
static const unsigned char *block_at(struct cg_reader *r, uintptr_t addr) {
    for (unsigned i = 0; i < CG_READER_BLOCKS; i++)
        if (r->block_addr[i] == addr)
            return r->block[i];
    unsigned slot = r->next_block;
    long got = cg_sys_read_own_memory(r->pid, r->block[slot], (const void *)addr, CG_READER_BLOCK_SIZE);
    if (got == -ENOSYS || got == -EPERM) {
        atomic_store(&own_memory_reads_refused, 1);
        return 0;
    }
    if (got != CG_READER_BLOCK_SIZE)
        return 0;
    r->block_addr[slot] = addr;
    r->next_block = (slot + 1) % CG_READER_BLOCKS;
    return r->block[slot];
}

/* Fallback.  The kernel copies the new mask from user memory before it validates `how`, so
 * an invalid `how` turns rt_sigprocmask into a side-effect-free readability probe: EFAULT
 * for unreadable memory, EINVAL for readable.  The load that follows is a second step: a
 * page unmapped in between still faults (then the handler dies of the original signal). */
static int probe(uintptr_t addr) {
    return CG_SC(SYS_rt_sigprocmask, ~0, addr, 0, sizeof(cg_sigset), 0, 0) == -EINVAL;
}

static int page_readable(struct cg_reader *r, uintptr_t page) {
    for (unsigned i = 0; i < CG_READER_PAGES; i++)
        if (r->readable[i] == page)
            return 1;
    if (!probe(page))
        return 0;
    r->readable[r->next_page] = page;
    r->next_page = (r->next_page + 1) % CG_READER_PAGES;
    return 1;
}

static int read_word_probed(struct cg_reader *r, uintptr_t addr, uintptr_t *out) {
    uintptr_t first = addr & PAGE_MASK, last = (addr + 7) & PAGE_MASK;
    if (!page_readable(r, first) || (last != first && !page_readable(r, last)))
        return 0;
    __builtin_memcpy(out, (const void *)addr, sizeof *out);
    return 1;
}

int read_word(struct cg_reader *r, uintptr_t addr, uintptr_t *out) {
    if (addr < 4096 || addr > UINTPTR_MAX - 8)
        return 0;
    if (atomic_load_explicit(&own_memory_reads_refused, memory_order_relaxed))
        return read_word_probed(r, addr, out);
    uintptr_t first = addr & BLOCK_MASK, last = (addr + 7) & BLOCK_MASK;
    unsigned char word[sizeof *out];
    const unsigned char *a = block_at(r, first);
    if (!a)
        return atomic_load(&own_memory_reads_refused) ? read_word_probed(r, addr, out) : 0;
    size_t in_first = first == last ? sizeof word : (size_t)(last - addr);
    __builtin_memcpy(word, a + (addr - first), in_first);
    if (in_first < sizeof word) {
        const unsigned char *b = block_at(r, last);
        if (!b)
            return atomic_load(&own_memory_reads_refused) ? read_word_probed(r, addr, out) : 0;
        __builtin_memcpy(word + in_first, b, sizeof word - in_first);
    }
    __builtin_memcpy(out, word, sizeof word);
    return 1;
}

/* One remote iovec per page: the kernel stops a partial transfer only between iovecs, so
 * the count it returns ends at the first unreadable page. */
#define COPY_PAGES 16

size_t cg_read_memory(void *dst, uintptr_t addr, size_t n) {
    unsigned char *out = dst;
    size_t done = 0;
    pid_t pid = cg_sys_getpid();
    while (done < n) {
        if (addr + done < 4096 || addr + done < addr)
            break;
        struct iovec local, remote[COPY_PAGES];
        size_t want = 0;
        int k = 0;
        for (uintptr_t at = addr + done; k < COPY_PAGES && done + want < n; k++) {
            size_t in_page = 4096 - (at & 4095), left = n - done - want;
            size_t len = in_page < left ? in_page : left;
            remote[k].iov_base = (void *)at;
            remote[k].iov_len = len;
            want += len;
            at += len;
        }
        local.iov_base = out + done;
        local.iov_len = want;
        long got = atomic_load_explicit(&own_memory_reads_refused, memory_order_relaxed)
                       ? -ENOSYS
                       : CG_SC(SYS_process_vm_readv, pid, &local, 1, remote, k, 0);
        if (got == -ENOSYS || got == -EPERM) {
            /* Refused: probe each page, then copy (a page unmapped in between still faults,
             * as in read_word_probed). */
            atomic_store(&own_memory_reads_refused, 1);
            for (int i = 0; i < k; i++) {
                if (!probe((uintptr_t)remote[i].iov_base & PAGE_MASK))
                    return done;
                __builtin_memcpy(out + done, remote[i].iov_base, remote[i].iov_len);
                done += remote[i].iov_len;
            }
            continue;
        }
        if (got <= 0)
            break;
        done += (size_t)got;
        if ((size_t)got < want)
            break;
    }
    return done;
}
