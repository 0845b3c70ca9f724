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
 * Async-signal-safe: system calls through syscall() (no cancellation point), no allocation;
 * the caller provides the working memory.  Files are mapped privately and never modified
 * once renamed into place by their writer.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "out.h"
#include "precompute.h"
#include "symbols.h"

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

struct source {
    int fd;
    size_t window_len;
    struct cg_cache_scratch *s;
};

/* Exactly n bytes at off from the first 4 KiB read at once, else with pread. */
static int read_at(struct source *r, void *buf, size_t n, uint64_t off) {
    if (off <= r->window_len && n <= r->window_len - off) {
        __builtin_memcpy(buf, r->s->window + off, n);
        return 1;
    }
    return syscall(SYS_pread64, r->fd, buf, n, (off_t)off) == (long)n;
}

int cg_map_cache_file(struct cg_module *m, const char *path, struct cg_cache_scratch *s, int verify_now) {
    struct source src = {.s = s};
    int fd = src.fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    uid_t euid = (uid_t)syscall(SYS_geteuid);
    struct stat st;
    long got = 0;
    uint8_t *head = s->head;
    int ok = syscall(SYS_fstat, fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= CG_CACHE_HEADER_SIZE &&
             st.st_size < (1LL << 31) && (st.st_uid == euid || st.st_uid == 0) && !(st.st_mode & 022) &&
             (got = syscall(SYS_pread64, fd, s->window, sizeof s->window, (off_t)0)) >= CG_CACHE_HEADER_SIZE;
    src.window_len = ok ? (size_t)got : 0;
    ok = ok && read_at(&src, head, CG_CACHE_HEADER_SIZE, 0);
    uint64_t size = ok ? (uint64_t)st.st_size : 0;
    uint32_t count = ok ? le32(head + 12) : 0, id_len = ok ? le32(head + 48) : 0;
    ok = ok && __builtin_memcmp(head, "CGCACHE1", 8) == 0 && le32(head + 8) == CACHE_VERSION && count <= 16 &&
         id_len == m->build_id_len && __builtin_memcmp(head + 16, m->build_id, id_len) == 0 &&
         le32(head + 52) == 0 && CG_CACHE_HEADER_SIZE + (uint64_t)count * DIR_ENTRY_SIZE <= size &&
         read_at(&src, head + CG_CACHE_HEADER_SIZE, count * DIR_ENTRY_SIZE, CG_CACHE_HEADER_SIZE);
    for (uint32_t i = 16 + id_len; ok && i < 48; i++)
        ok = head[i] == 0;
    uint64_t blob_off[CG_TABLE_KINDS] = {0}, blob_len[CG_TABLE_KINDS] = {0};
    uint64_t note_len[CG_TABLE_KINDS] = {0};
    int have_blob[CG_TABLE_KINDS] = {0}, have_note[CG_TABLE_KINDS] = {0};
    for (uint32_t i = 0; ok && i < count; i++) {
        const uint8_t *d = head + CG_CACHE_HEADER_SIZE + i * DIR_ENTRY_SIZE;
        uint32_t kind = le32(d), flags = le32(d + 4);
        uint64_t off = le64(d + 8), len = le64(d + 16);
        ok = off % 8 == 0 && off <= size && len <= size - off;
        if (!ok || kind >= CG_TABLE_KINDS)
            continue;
        if (flags & FLAG_NOTE) {
            note_len[kind] = len < CG_NOTE_MAX - 1 ? len : CG_NOTE_MAX - 1;
            ok = read_at(&src, s->notes[kind], note_len[kind], off);
            s->notes[kind][note_len[kind]] = 0;
            have_note[kind] = 1;
            continue;
        }
        /* Every blob starts with its magic and its total size (docs/tables.md).  At load a
         * header past the first 4 KiB is left to the handler, which checks every table's
         * header against blob_len at every lookup: one system call less per table at every
         * start. */
        uint8_t blob_head[16];
        ok = len >= 16;
        if (ok && (verify_now || off + sizeof blob_head <= src.window_len))
            ok = read_at(&src, blob_head, sizeof blob_head, off) && le32(blob_head) == blob_magic[kind] &&
                 le64(blob_head + 8) == len;
        blob_off[kind] = off;
        blob_len[kind] = len;
        have_blob[kind] = 1;
    }
    for (int kind = 0; ok && kind < CG_TABLE_KINDS; kind++)
        ok = have_blob[kind] || have_note[kind];
    void *map = ok ? (void *)syscall(SYS_mmap, 0, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    syscall(SYS_close, fd);
    if (map == MAP_FAILED)
        return 0;
    m->cache_map = map;
    size_t path_len = cg_strlen(path); /* a path too long to store is simply never removed */
    if (path_len < sizeof m->cache_path)
        __builtin_memcpy(m->cache_path, path, path_len + 1);
    m->cache_dev = (uint64_t)st.st_dev;
    m->cache_ino = (uint64_t)st.st_ino;
    m->cache_size = size;
    m->cache_checksum = le64(head + 56);
    if (verify_now) {
        uint32_t state = cg_checksum(m->cache_map + CG_CACHE_HEADER_SIZE, size - CG_CACHE_HEADER_SIZE) ==
                                 m->cache_checksum
                             ? 1
                             : 2;
        atomic_store_explicit(&m->cache_state, state, memory_order_release);
        if (state == 2)
            cg_remove_corrupt_cache_file(m);
    }
    for (int kind = 0; kind < CG_TABLE_KINDS; kind++) {
        struct cg_table_slot *t = &m->tables[kind];
        if (have_blob[kind]) {
            t->blob_len = blob_len[kind];
            atomic_store_explicit(&t->blob, (const void *)((const uint8_t *)map + blob_off[kind]),
                                  memory_order_release);
            atomic_store_explicit(&t->state, CG_SYMTAB_READY, memory_order_release);
        } else {
            __builtin_memcpy(t->note, s->notes[kind], note_len[kind] + 1);
            atomic_store_explicit(&t->state, CG_SYMTAB_FAILED, memory_order_release);
        }
    }
    return 1;
}

static int cacheable(const struct cg_module *m) {
    return m->hi != 0 && m->build_id_len >= 2 &&
           atomic_load_explicit(&m->tables[CG_TABLE_SYMBOLS].state, memory_order_acquire) == CG_SYMTAB_PENDING;
}

int cg_map_cached_tables(struct cg_cache_scratch *s, int verify_now) {
    int missing = 0;
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        struct cg_module *m = &cg_modules[i];
        if (!cacheable(m))
            continue;
        int loaded = 0;
        for (int d = 0; d < cg_precompute.ndirs && !loaded; d++)
            loaded = cg_cache_path(s->path, sizeof s->path, cg_precompute.dirs[d], m, ".cg") &&
                     cg_map_cache_file(m, s->path, s, verify_now);
        missing += !loaded;
    }
    return missing;
}

/* The helper holds an open-file-description lock on one byte per build-id of <dir>/.locks
 * while it builds (dwarfcache/lock.go): the byte at the build-id's first 8 bytes, shifted
 * right by one. */
int cg_tables_being_built(const struct cg_module *m, char *path, size_t size) {
    uint64_t first8 = 0;
    __builtin_memcpy(&first8, m->build_id, m->build_id_len < 8 ? m->build_id_len : 8);
    for (int d = 0; d < cg_precompute.writable_dirs; d++) {
        size_t n = append(path, 0, size, cg_precompute.dirs[d]);
        n = append(path, n, size, "/.locks");
        path[n] = 0;
        if (n + 1 >= size)
            continue;
        int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        struct flock probe = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = (off_t)(first8 >> 1), .l_len = 1};
        int held = syscall(SYS_fcntl, fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
        syscall(SYS_close, fd);
        if (held)
            return 1;
    }
    return 0;
}
