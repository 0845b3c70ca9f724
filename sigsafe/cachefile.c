//go:build ignore

/*
 * cachefile.c — a module's tables from its cache file (docs/cache.md), mapped by the
 * constructor for the modules loaded at start, and by the handler for modules whose tables
 * appeared since (a helper wrote them) or that were loaded later.
 *
 * Everything read from a cache file is checked before it is published: ownership and mode
 * (ours or root's, writable by no one else), header, version, build-id, directory and blob
 * bounds, each blob's magic and size.  Each blob's directory length is kept beside it: the
 * handler bounds every array of a table by it, never by what the blob's own header says.
 * The content checksum is checked by the handler on first use (at load it would cost more
 * than the start), or at once when the file is mapped at a crash.
 *
 * Async-signal-safe: raw system calls (sys.h: no cancellation point, errno untouched), no allocation;
 * the caller provides the working memory.  Files are mapped privately and never modified
 * once renamed into place by their writer.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "out.h"
#include "precompute.h"
#include "symbols.h"
#include "sys.h"

#define CACHE_VERSION 1
#define DIR_ENTRY_SIZE 24
#define FLAG_NOTE 1

struct cg_precompute cg_precompute;

static uint32_t le32(const uint8_t *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}
static uint64_t le64(const uint8_t *p) {
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}

static const uint32_t blob_magic[CG_TABLE_KINDS] = {CG_SYMTAB_MAGIC, CG_UNWIND_MAGIC, CG_LINES_MAGIC};

static size_t append(char *out, size_t n, size_t size, const char *s) {
    while (*s && n + 1 < size)
        out[n++] = *s++;
    return n;
}

int cg_cache_path(char *out, size_t size, const char *dir, const struct cg_module *m, const char *suffix) {
    static const char hex[] = "0123456789abcdef";
    char id[2 * CG_BUILD_ID_MAX + 1];
    if (m->build_id_len < 2)
        return 0;
    for (uint32_t i = 0; i < m->build_id_len; i++) {
        id[2 * i] = hex[m->build_id[i] >> 4];
        id[2 * i + 1] = hex[m->build_id[i] & 15];
    }
    id[2 * m->build_id_len] = 0;
    char first[4] = {'/', id[0], id[1], 0};
    size_t n = append(out, 0, size, dir);
    n = append(out, n, size, first);
    n = append(out, n, size, "/");
    n = append(out, n, size, id + 2);
    n = append(out, n, size, suffix);
    out[n] = 0;
    return n + 1 < size;
}

/* Where a cache file's bytes come from: a file (its first 4 KiB read at once, the rest with
 * pread), or memory (a record of a helper's memfd archive, already mapped). */
struct source {
    int fd;                /* -1: memory */
    const uint8_t *memory; /* with size bytes */
    uint64_t size;
    size_t window_len;
    struct cg_cache_scratch *s;
};

static int read_at(struct source *r, void *buf, size_t n, uint64_t off) {
    if (!r->memory && off <= r->window_len && n <= r->window_len - off) {
        __builtin_memcpy(buf, r->s->window + off, n);
        return 1;
    }
    if (r->memory) {
        if (off > r->size || n > r->size - off)
            return 0;
        __builtin_memcpy(buf, r->memory + off, n);
        return 1;
    }
    return cg_sys_pread(r->fd, buf, n, (off_t)off) == (long)n;
}

/* What the checks found, for publishing once the bytes are mapped. */
struct checked {
    uint64_t blob_off[CG_TABLE_KINDS], blob_len[CG_TABLE_KINDS], note_len[CG_TABLE_KINDS];
    int have_blob[CG_TABLE_KINDS];
    uint64_t checksum;
};

/* Checks a cache file for m; 0 if it is not acceptable. */
static int check(const struct cg_module *m, struct source *src, int verify_now, struct checked *c) {
    struct cg_cache_scratch *s = src->s;
    uint8_t *head = s->head;
    uint64_t size = src->size;
    int ok = size >= CG_CACHE_HEADER_SIZE && read_at(src, head, CG_CACHE_HEADER_SIZE, 0);
    uint32_t count = ok ? le32(head + 12) : 0, id_len = ok ? le32(head + 48) : 0;
    ok = ok && __builtin_memcmp(head, "CGCACHE1", 8) == 0 && le32(head + 8) == CACHE_VERSION && count <= 16 &&
         id_len == m->build_id_len && __builtin_memcmp(head + 16, m->build_id, id_len) == 0 &&
         le32(head + 52) == 0 && CG_CACHE_HEADER_SIZE + (uint64_t)count * DIR_ENTRY_SIZE <= size &&
         read_at(src, head + CG_CACHE_HEADER_SIZE, count * DIR_ENTRY_SIZE, CG_CACHE_HEADER_SIZE);
    for (uint32_t i = 16 + id_len; ok && i < 48; i++)
        ok = head[i] == 0;
    int have_note[CG_TABLE_KINDS] = {0};
    __builtin_memset(c, 0, sizeof *c);
    for (uint32_t i = 0; ok && i < count; i++) {
        const uint8_t *d = head + CG_CACHE_HEADER_SIZE + i * DIR_ENTRY_SIZE;
        uint32_t kind = le32(d), flags = le32(d + 4);
        uint64_t off = le64(d + 8), len = le64(d + 16);
        ok = off % 8 == 0 && off <= size && len <= size - off;
        if (!ok || kind >= CG_TABLE_KINDS)
            continue;
        if (flags & FLAG_NOTE) {
            c->note_len[kind] = len < CG_NOTE_MAX - 1 ? len : CG_NOTE_MAX - 1;
            ok = read_at(src, s->notes[kind], c->note_len[kind], off);
            s->notes[kind][c->note_len[kind]] = 0;
            have_note[kind] = 1;
            continue;
        }
        /* Every blob starts with its magic and its total size (docs/tables.md).  At load a
         * header past the first 4 KiB of a file is left to the handler, which checks every
         * table's header against blob_len at every lookup: one system call less per table
         * at every start. */
        uint8_t blob_head[16];
        ok = len >= 16;
        if (ok && (verify_now || src->memory || off + sizeof blob_head <= src->window_len))
            ok = read_at(src, blob_head, sizeof blob_head, off) && le32(blob_head) == blob_magic[kind] &&
                 le64(blob_head + 8) == len;
        c->blob_off[kind] = off;
        c->blob_len[kind] = len;
        c->have_blob[kind] = 1;
    }
    for (int kind = 0; ok && kind < CG_TABLE_KINDS; kind++)
        ok = c->have_blob[kind] || have_note[kind];
    c->checksum = ok ? le64(head + 56) : 0;
    return ok;
}

/* Publishes m's tables from the checked file whose bytes are mapped at map. */
static void publish(struct cg_module *m, const struct checked *c, const struct cg_cache_scratch *s,
                    const uint8_t *map, uint64_t size, int verify_now) {
    m->cache_map = map;
    m->cache_size = size;
    m->cache_checksum = c->checksum;
    if (verify_now) {
        uint32_t state = cg_checksum(map + CG_CACHE_HEADER_SIZE, size - CG_CACHE_HEADER_SIZE) == c->checksum ? 1 : 2;
        atomic_store_explicit(&m->cache_state, state, memory_order_release);
        if (state == 2)
            cg_remove_corrupt_cache_file(m);
    }
    for (int kind = 0; kind < CG_TABLE_KINDS; kind++) {
        struct cg_table_slot *t = &m->tables[kind];
        if (c->have_blob[kind]) {
            t->blob_len = c->blob_len[kind];
            atomic_store_explicit(&t->blob, (const void *)(map + c->blob_off[kind]), memory_order_release);
            atomic_store_explicit(&t->state, CG_SYMTAB_READY, memory_order_release);
        } else {
            __builtin_memcpy(t->note, s->notes[kind], c->note_len[kind] + 1);
            atomic_store_explicit(&t->state, CG_SYMTAB_FAILED, memory_order_release);
        }
    }
}

int cg_map_cache_file(struct cg_module *m, const char *path, struct cg_cache_scratch *s, int verify_now) {
    struct source src = {.s = s};
    int fd = src.fd = cg_sys_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0)
        return 0;
    uid_t euid = cg_sys_geteuid();
    struct stat st;
    struct checked c;
    long got = 0;
    /* The checks read with pread: the mapping is not touched until a crash needs a table
     * (touching a page of a file mapping maps its neighbours too, 64 KiB a time). */
    int ok = cg_sys_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= CG_CACHE_HEADER_SIZE &&
             st.st_size < (1LL << 31) && (st.st_uid == euid || st.st_uid == 0) && !(st.st_mode & 022) &&
             (got = cg_sys_pread(fd, s->window, sizeof s->window, 0)) >= CG_CACHE_HEADER_SIZE;
    src.window_len = ok ? (size_t)got : 0;
    src.size = ok ? (uint64_t)st.st_size : 0;
    ok = ok && check(m, &src, verify_now, &c);
    void *map = ok ? cg_sys_mmap(0, (size_t)src.size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    cg_sys_close(fd);
    if (map == MAP_FAILED || CG_MMAP_FAILED(map))
        return 0;
    size_t path_len = cg_strlen(path); /* a path too long to store is simply never removed */
    if (path_len < sizeof m->cache_path)
        __builtin_memcpy(m->cache_path, path, path_len + 1);
    m->cache_dev = (uint64_t)st.st_dev;
    m->cache_ino = (uint64_t)st.st_ino;
    publish(m, &c, s, map, src.size, verify_now);
    return 1;
}

/* A helper's memfd archive (docs/cache.md), where no cache directory could be used: a
 * 64-byte header ("CGMEMFD1", then at 8 the bytes of complete records, stored last), then
 * records { u32 length; u32 reserved; a cache file; padding to 8 }.  The helper only
 * appends; what the header counts is never written again. */
#define ARCHIVE_HEADER 64

static int map_from_archive(struct cg_module *m, const uint8_t *base, uint64_t capacity, struct cg_cache_scratch *s) {
    if (capacity < ARCHIVE_HEADER || __builtin_memcmp(base, "CGMEMFD1", 8) != 0)
        return 0;
    uint64_t published = __atomic_load_n((const uint64_t *)(base + 8), __ATOMIC_ACQUIRE);
    if (published > capacity - ARCHIVE_HEADER)
        published = capacity - ARCHIVE_HEADER;
    const uint8_t *end = base + ARCHIVE_HEADER + published;
    for (const uint8_t *p = base + ARCHIVE_HEADER; end - p >= 8;) {
        uint64_t len = le32(p);
        if (len < CG_CACHE_HEADER_SIZE || len > (uint64_t)(end - p) - 8)
            return 0;
        const uint8_t *file = p + 8;
        if (le32(file + 48) == m->build_id_len && __builtin_memcmp(file + 16, m->build_id, m->build_id_len) == 0) {
            struct source src = {.fd = -1, .memory = file, .size = len, .s = s};
            struct checked c;
            if (check(m, &src, 1, &c)) {
                m->cache_path[0] = 0; /* nothing to unlink */
                publish(m, &c, s, file, len, 1);
                return 1;
            }
        }
        p += 8 + ((len + 7) & ~(uint64_t)7);
    }
    return 0;
}

static int cacheable(const struct cg_module *m) {
    return m->hi != 0 && m->build_id_len >= 2 &&
           atomic_load_explicit(&m->tables[CG_TABLE_SYMBOLS].state, memory_order_acquire) == CG_SYMTAB_PENDING;
}

int cg_map_cached_tables(struct cg_cache_scratch *s, int verify_now) {
    int missing = 0;
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        struct cg_module *m = cg_module_at(i);
        if (!cacheable(m))
            continue;
        int loaded = 0;
        for (int d = 0; d < cg_precompute.ndirs && !loaded; d++)
            loaded = cg_cache_path(s->path, sizeof s->path, cg_precompute.dirs[d], m, ".cg") &&
                     cg_map_cache_file(m, s->path, s, verify_now);
        int archives = atomic_load_explicit(&cg_precompute.narchives, memory_order_acquire);
        for (int a = 0; a < archives && !loaded; a++)
            loaded = map_from_archive(m, cg_precompute.archives[a], CG_ARCHIVE_SIZE, s);
        missing += !loaded;
    }
    return missing;
}

/* The helper holds an open-file-description lock on one byte per build-id of <dir>/.locks
 * while it builds (dwarfcache/lock.go): the byte at the build-id's first 8 bytes, shifted
 * right by one. */
void cg_open_build_locks(struct cg_build_locks *l) {
    for (int d = 0; d < CG_CACHE_DIRS; d++) {
        l->fd[d] = -1;
        if (d >= cg_precompute.writable_dirs)
            continue;
        size_t n = append(l->path, 0, sizeof l->path, cg_precompute.dirs[d]);
        n = append(l->path, n, sizeof l->path, "/.locks");
        if (n + 1 >= sizeof l->path)
            continue;
        l->path[n] = 0;
        int fd = cg_sys_open(l->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
        l->fd[d] = fd < 0 ? -1 : fd;
    }
}

void cg_close_build_locks(struct cg_build_locks *l) {
    for (int d = 0; d < CG_CACHE_DIRS; d++)
        if (l->fd[d] >= 0)
            cg_sys_close(l->fd[d]);
}

int cg_tables_being_built(const struct cg_build_locks *l, const struct cg_module *m) {
    uint64_t first8 = 0;
    __builtin_memcpy(&first8, m->build_id, m->build_id_len < 8 ? m->build_id_len : 8);
    for (int d = 0; d < CG_CACHE_DIRS; d++) {
        if (l->fd[d] < 0)
            continue;
        struct flock probe = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = (off_t)(first8 >> 1), .l_len = 1};
        if (cg_sys_fcntl(l->fd[d], F_OFD_GETLK, (long)&probe) == 0 && probe.l_type != F_UNLCK)
            return 1;
    }
    return 0;
}
