//go:build ignore

#include "lines.h"

#include "symbols.h"

/* Bounded by the cache file's directory (len), not the header's own total_size. */
static int lines_valid(const struct cg_lines_header *h, uint64_t len) {
    if (len < sizeof *h || h->magic != CG_LINES_MAGIC || h->version != CG_LINES_VERSION || h->total_size > len)
        return 0;
    const uint64_t size = h->total_size;
    return (uint64_t)h->lines_off + (uint64_t)h->line_count * sizeof(struct cg_line_row) <= size &&
           (uint64_t)h->inlines_off + (uint64_t)h->inline_count * sizeof(struct cg_inline_row) <= size &&
           (uint64_t)h->recs_off + (uint64_t)h->rec_count * sizeof(struct cg_inline_rec) <= size &&
           (uint64_t)h->files_off + (uint64_t)h->file_count * sizeof(uint32_t) <= size &&
           (uint64_t)h->strings_off + h->strings_size <= size && h->lines_off % 4 == 0 &&
           h->inlines_off % 4 == 0 && h->recs_off % 4 == 0 && h->files_off % 4 == 0;
}

const struct cg_lines_header *module_lines(const struct cg_module *m) {
    uint64_t len;
    const struct cg_lines_header *h = module_table(m, CG_TABLE_LINES, &len);
    return h && lines_valid(h, len) ? h : 0;
}

#define AT(h, off) ((const char *)(h) + (off))

static struct cg_str string_at(const struct cg_lines_header *h, uint32_t off) {
    struct cg_str s = {0, 0};
    if (off >= h->strings_size)
        return s;
    s.s = AT(h, h->strings_off) + off;
    while (off + s.len < h->strings_size && s.s[s.len])
        s.len++;
    return s;
}

static void file_location(const struct cg_lines_header *h, uint32_t file, uint32_t line,
                          struct cg_location *loc) {
    loc->file.s = 0;
    loc->file.len = 0;
    loc->line = line;
    if (file < h->file_count)
        loc->file = string_at(h, ((const uint32_t *)AT(h, h->files_off))[file]);
}

int find_line(const struct cg_lines_header *h, uint64_t vaddr, struct cg_location *loc) {
    const struct cg_line_row *rows = (const struct cg_line_row *)AT(h, h->lines_off);
    if (vaddr > UINT32_MAX)
        return 0;
    uint32_t i = last_row_at_or_before(rows, h->line_count, sizeof *rows, vaddr);
    if (i == h->line_count || rows[i].file == CG_NONE)
        return 0;
    file_location(h, rows[i].file, rows[i].line, loc);
    return loc->file.len > 0;
}

uint32_t find_inline(const struct cg_lines_header *h, uint64_t vaddr) {
    const struct cg_inline_row *rows = (const struct cg_inline_row *)AT(h, h->inlines_off);
    if (vaddr > UINT32_MAX)
        return CG_NONE;
    uint32_t i = last_row_at_or_before(rows, h->inline_count, sizeof *rows, vaddr);
    return i == h->inline_count ? CG_NONE : rows[i].rec;
}

int inline_call(const struct cg_lines_header *h, uint32_t rec, struct cg_str *name,
                struct cg_location *call_site, uint32_t *parent) {
    if (rec >= h->rec_count)
        return 0;
    const struct cg_inline_rec *r = (const struct cg_inline_rec *)AT(h, h->recs_off) + rec;
    *name = string_at(h, r->name_off);
    file_location(h, r->call_file, r->call_line, call_site);
    *parent = r->parent;
    return 1;
}
