//go:build ignore

/*
 * maps.c — the lines of /proc/self/maps that matter to a crash: the mapping holding the
 * fault address (or its neighbours when nothing does), the stack pointer's, and those of
 * the frames.  Read with raw open/read into a static buffer: no stdio, no allocation.  When
 * /proc is missing or the descriptor table is full, the section says so.
 */
#include "maps.h"

#include <errno.h>
#include <fcntl.h>

#include "out.h"
#include "precompute.h"
#include "symbols.h"
#include "sys.h"

#define LINE_MAX_LEN 512

static char chunk[4096];
static char line[LINE_MAX_LEN];

static uintptr_t parse_hex(const char **p) {
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

static int overlaps(uintptr_t lo, uintptr_t hi, uintptr_t a, uintptr_t b) { return a < b && lo < b && a < hi; }

int cg_own_mapping(uintptr_t lo, uintptr_t hi) {
    const struct cg_module *self = find_module((uintptr_t)&cg_own_mapping);
    if (self && overlaps(lo, hi, self->lo, self->hi))
        return 1;
    uintptr_t a, b;
    for (uint32_t k = 0; cg_alt_stack_pool_range(k, &a, &b); k++)
        if (overlaps(lo, hi, a, b))
            return 1;
    int narchives = atomic_load(&cg_precompute.narchives);
    for (int i = 0; i < narchives && i < CG_ARCHIVES; i++) {
        a = (uintptr_t)cg_precompute.archives[i];
        if (a && overlaps(lo, hi, a, a + CG_ARCHIVE_SIZE))
            return 1;
    }
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        const struct cg_module *m = cg_module_at(i);
        a = (uintptr_t)m->cache_map;
        if (a && overlaps(lo, hi, a, a + m->cache_size))
            return 1;
    }
    return 0;
}

struct wanted {
    const uintptr_t *addrs;
    int n;
    uintptr_t fault;
    int fault_found;
    char below[LINE_MAX_LEN], above[LINE_MAX_LEN];
    size_t below_len, above_len;
};

static void consider(struct cg_out *o, struct wanted *w, size_t len) {
    const char *p = line;
    uintptr_t lo = parse_hex(&p);
    if (*p != '-')
        return;
    p++;
    uintptr_t hi = parse_hex(&p);
    int print = 0;
    for (int i = 0; i < w->n; i++)
        print |= w->addrs[i] >= lo && w->addrs[i] < hi;
    if (w->fault >= lo && w->fault < hi)
        w->fault_found = print = 1;
    /* A neighbour of ours would mislead: our reservations (alternate stacks, tables) sit
     * where the program's memory might have been, and say nothing about its bug. */
    if ((hi <= w->fault || (lo > w->fault && !w->above_len)) && cg_own_mapping(lo, hi)) {
        /* not a neighbour */
    } else if (hi <= w->fault) {
        for (w->below_len = 0; w->below_len < len; w->below_len++)
            w->below[w->below_len] = line[w->below_len];
    } else if (lo > w->fault && !w->above_len) {
        for (; w->above_len < len; w->above_len++)
            w->above[w->above_len] = line[w->above_len];
    }
    if (print) {
        out_str(o, "  ");
        out_strn(o, line, len);
        out_char(o, '\n');
    }
}

void write_relevant_maps(struct cg_out *o, uintptr_t fault, int has_fault, const uintptr_t *addrs,
                         int n) {
    out_str(o, "memory map (the fault address, the stack pointer, the frames):\n");
    int fd = cg_sys_open("/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        out_str(o, "  unavailable (/proc/self/maps could not be opened)\n");
        return;
    }
    /* static, as every working area of the one reporting thread: the stack it runs on is
     * small (handler.c) */
    static struct wanted w;
    w = (struct wanted){.addrs = addrs, .n = n, .fault = has_fault ? fault : 0};
    size_t len = 0;
    for (;;) {
        long got = cg_sys_read(fd, chunk, sizeof chunk);
        if (got == -EINTR)
            continue;
        if (got <= 0)
            break;
        for (long i = 0; i < got; i++) {
            if (chunk[i] == '\n') {
                consider(o, &w, len);
                len = 0;
            } else if (len < sizeof line) {
                line[len++] = chunk[i];
            }
        }
    }
    cg_sys_close(fd);
    if (has_fault && !w.fault_found) {
        out_str(o, "  fault address ");
        out_hex(o, fault, 0);
        out_str(o, " is in no mapping; nearest below: ");
        if (w.below_len)
            out_strn(o, w.below, w.below_len);
        else
            out_str(o, "none");
        out_str(o, "\n  nearest above: ");
        if (w.above_len)
            out_strn(o, w.above, w.above_len);
        else
            out_str(o, "none");
        out_char(o, '\n');
    }
}
