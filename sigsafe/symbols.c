//go:build ignore

#include "symbols.h"
#include "out.h"
#include "sys.h"

#include <string.h>
#include <sys/auxv.h>

uint32_t last_row_at_or_before(const void *rows, uint32_t count, size_t stride, uint64_t key) {
    uint32_t lo = 0, hi = count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (*(const uint32_t *)((const char *)rows + (size_t)mid * stride) <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? count : lo - 1;
}

const struct cg_module *find_module(uintptr_t addr) {
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    if (n > CG_MAX_MODULES)
        n = CG_MAX_MODULES;
    for (uint32_t i = 0; i < n; i++) {
        const struct cg_module *m = cg_module_at(i);
        if (addr >= m->lo && addr < m->hi)
            return m;
    }
    return 0;
}

/* The blob was built by our own code, but the handler must never trust a pointer it did not
 * check: a corrupt table would otherwise turn one crash into a fault in here.  Every bound
 * comes from the cache file's directory (len), not from the header's own total_size, which
 * a file with a consistent checksum could still set to anything. */
static int symtab_valid(const struct cg_symtab_header *h, uint64_t len) {
    if (len < sizeof *h || h->magic != CG_SYMTAB_MAGIC || h->version != CG_SYMTAB_VERSION || h->total_size > len)
        return 0;
    uint64_t syms_end = (uint64_t)h->symbols_off + (uint64_t)h->count * sizeof(struct cg_symbol);
    uint64_t strs_end = (uint64_t)h->strings_off + h->strings_size;
    return h->symbols_off >= sizeof *h && syms_end <= h->total_size &&
           strs_end <= h->total_size && h->symbols_off % 8 == 0 && h->strings_size > 0;
}

uint64_t cg_checksum(const uint8_t *p, uint64_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        h ^= w;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    for (uint64_t i = 0; i < n; i++)
        tail |= (uint64_t)p[i] << (8 * i);
    h ^= tail;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

/* A file that fails its checksum is useless to every later process too: remove it so the next
 * start builds it again — but only if its name still names the file we mapped: a writer may
 * have renamed a good file over it since. */
void cg_remove_corrupt_cache_file(const struct cg_module *m) {
    struct stat st;
    if (m->cache_path[0] && cg_sys_stat_nofollow(m->cache_path, &st) == 0 &&
        (uint64_t)st.st_dev == m->cache_dev && (uint64_t)st.st_ino == m->cache_ino)
        cg_sys_unlink(m->cache_path);
}

int module_cache_corrupt(const struct cg_module *m) {
    struct cg_module *mm = (struct cg_module *)m;
    if (!mm->cache_map)
        return 0;
    uint32_t state = atomic_load_explicit(&mm->cache_state, memory_order_acquire);
    if (state == 0) {
        state = cg_checksum(mm->cache_map + CG_CACHE_HEADER_SIZE,
                            mm->cache_size - CG_CACHE_HEADER_SIZE) == mm->cache_checksum
                    ? 1
                    : 2;
        atomic_store_explicit(&mm->cache_state, state, memory_order_release);
        if (state == 2)
            cg_remove_corrupt_cache_file(mm);
    }
    return state != 1;
}

const void *module_table(const struct cg_module *m, int kind, uint64_t *len) {
    struct cg_table_slot *t = (struct cg_table_slot *)&m->tables[kind];
    if (module_cache_corrupt(m))
        return 0;
    if (atomic_load_explicit(&t->state, memory_order_acquire) != CG_SYMTAB_READY)
        return 0;
    const void *blob = atomic_load_explicit(&t->blob, memory_order_acquire);
    *len = t->blob_len;
    return blob;
}

const struct cg_symtab_header *module_symtab(const struct cg_module *m) {
    uint64_t len;
    const struct cg_symtab_header *h = module_table(m, CG_TABLE_SYMBOLS, &len);
    return h && symtab_valid(h, len) ? h : 0;
}

const char *find_symbol(const struct cg_module *m, uint64_t vaddr, uint64_t *offset,
                        size_t *name_max) {
    const struct cg_symtab_header *h = module_symtab(m);
    if (!h || h->count == 0)
        return 0;
    const struct cg_symbol *syms = (const struct cg_symbol *)((const char *)h + h->symbols_off);
    /* Last symbol whose start <= vaddr. */
    uint32_t lo = 0, hi = h->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (syms[mid].start <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    const struct cg_symbol *s = &syms[lo - 1];
    /* Past a sized symbol's end is another, unnamed function: say "??" rather than misname. */
    if (s->size ? vaddr - s->start >= s->size : vaddr != s->start)
        return 0;
    if (s->name_off >= h->strings_size)
        return 0;
    *offset = vaddr - s->start;
    *name_max = h->strings_size - s->name_off;
    return (const char *)h + h->strings_off + s->name_off;
}

static int unwind_valid(const struct cg_unwind_header *h, uint64_t len) {
    if (len < sizeof *h || h->magic != CG_UNWIND_MAGIC || h->version != CG_UNWIND_VERSION || h->total_size > len)
        return 0;
    uint64_t rows_end = (uint64_t)h->rows_off + (uint64_t)h->row_count * sizeof(struct cg_unwind_row);
    uint64_t rules_end =
        (uint64_t)h->rules_off + (uint64_t)h->rule_count * sizeof(struct cg_unwind_rule);
    return h->rows_off >= sizeof *h && rows_end <= h->total_size && h->rules_off >= sizeof *h &&
           rules_end <= h->total_size && h->rows_off % 4 == 0 && h->rules_off % 4 == 0;
}

const struct cg_unwind_header *module_unwind(const struct cg_module *m) {
    uint64_t len;
    const struct cg_unwind_header *h = module_table(m, CG_TABLE_UNWIND, &len);
    return h && unwind_valid(h, len) ? h : 0;
}

const struct cg_unwind_rule *find_unwind_rule(const struct cg_module *m, uint64_t vaddr) {
    const struct cg_unwind_header *h = module_unwind(m);
    if (!h || h->row_count == 0 || vaddr > UINT32_MAX)
        return 0;
    const struct cg_unwind_row *rows = (const struct cg_unwind_row *)((const char *)h + h->rows_off);
    uint32_t i = last_row_at_or_before(rows, h->row_count, sizeof *rows, vaddr);
    if (i == h->row_count || rows[i].rule >= h->rule_count)
        return 0;
    return (const struct cg_unwind_rule *)((const char *)h + h->rules_off) + rows[i].rule;
}

const char *cg_executable_path(void) {
    if (!atomic_load_explicit(&cg_module_count, memory_order_acquire))
        return "?";
    char *path = cg_module_at(0)->path;
    if (path[0])
        return path;
    long n = cg_sys_readlink("/proc/self/exe", path, sizeof cg_module_at(0)->path - 1);
    if (n > 0) {
        path[n] = 0;
        return path;
    }
    const char *execfn = (const char *)getauxval(AT_EXECFN); /* no /proc: the exec'd name */
    size_t len = execfn ? cg_strlen(execfn) : 0;
    if (!len || len >= sizeof cg_module_at(0)->path)
        execfn = "?", len = 1;
    memcpy(path, execfn, len);
    path[len] = 0;
    return path;
}

