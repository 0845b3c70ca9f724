//go:build ignore

/*
 * cache_reader.c — the constructor's half of "Go only when needed": map each module's
 * tables from the on-disk cache (docs/cache.md) before the Go runtime would start.  When
 * every module is covered, the runtime is kept from starting at all.
 *
 * Load-time code.  Everything read from a cache file is checked before it is published:
 * ownership and mode (ours or root's, not writable by others), header, version, build-id,
 * directory and blob bounds, blob magic and sizes; the content checksum is checked by the
 * handler on first use (sigsafe/symbols.c).  Files are mapped privately and never
 * modified once renamed into place by their writer.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.h"
#include "sigsafe/crashguard.h"

#define CACHE_VERSION 1
#define DIR_ENTRY_SIZE 24
#define FLAG_NOTE 1

static uint32_t le32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static const uint32_t blob_magic[CG_TABLE_KINDS] = {CG_SYMTAB_MAGIC, CG_UNWIND_MAGIC, CG_LINES_MAGIC};

/* The directories the Go side writes to (dwarfcache.CacheDirs), user one first. */
int cg_cache_dirs(char dirs[2][CG_CACHE_DIR_MAX]) {
    int n = 0;
    const char *v;
    if (!getauxval(AT_SECURE)) {
        struct stat st;
        char fallback[64];
        char uid[12];
        if ((v = getenv("CRASHGUARD_CACHE_DIR")) && *v)
            CG_JOIN(dirs[n++], CG_CACHE_DIR_MAX, v);
        else if ((v = getenv("XDG_CACHE_HOME")) && v[0] == '/')
            CG_JOIN(dirs[n++], CG_CACHE_DIR_MAX, v, "/crashguard");
        else if ((v = getenv("HOME")) && v[0] == '/' && v[1])
            CG_JOIN(dirs[n++], CG_CACHE_DIR_MAX, v, "/.cache/crashguard");
        else if (CG_JOIN(fallback, sizeof fallback, "/var/tmp/crashguard-", cg_decimal(uid, (unsigned)geteuid())) &&
                 lstat(fallback, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
                 !(st.st_mode & 077))
            CG_JOIN(dirs[n++], CG_CACHE_DIR_MAX, fallback);
    }
    CG_JOIN(dirs[n++], CG_CACHE_DIR_MAX, "/var/cache/crashguard");
    return n;
}

static int cache_path(char *out, size_t size, const char *dir, const struct cg_module *m) {
    static const char hex[] = "0123456789abcdef";
    char id[2 * CG_BUILD_ID_MAX + 1];
    for (uint32_t i = 0; i < m->build_id_len; i++) {
        id[2 * i] = hex[m->build_id[i] >> 4];
        id[2 * i + 1] = hex[m->build_id[i] & 15];
    }
    id[2 * m->build_id_len] = 0;
    char first[3] = {id[0], id[1], 0};
    return m->build_id_len > 1 && CG_JOIN(out, size, dir, "/", first, "/", id + 2, ".cg");
}

/* A cache file's first 4 KiB are read at once: small files (a program's, the vDSO's) are
 * then checked with no further system call, large ones with one per table header. */
struct cache_reader {
    int fd;
    size_t window_len;
    uint8_t window[4096];
};

/* Reads exactly n bytes at off; 0 on a short read. */
static int read_at(struct cache_reader *r, void *buf, size_t n, uint64_t off) {
    if (off <= r->window_len && n <= r->window_len - off) {
        memcpy(buf, r->window + off, n);
        return 1;
    }
    return pread(r->fd, buf, n, (off_t)off) == (ssize_t)n;
}

/* Maps and checks one cache file; publishes its tables into m on success.  The checks read
 * with pread: the mapping itself is not touched until a crash needs a table, so a healthy
 * process carries none of its pages (touching a page of a file mapping brings its
 * neighbours along, 64 KiB a time). */
static int load_cache_file(struct cg_module *m, const char *path, uid_t euid) {
    struct cache_reader reader, *r = &reader;
    int fd = r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    struct stat st;
    ssize_t got;
    uint8_t head[CG_CACHE_HEADER_SIZE + 16 * DIR_ENTRY_SIZE];
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= CG_CACHE_HEADER_SIZE &&
             st.st_size < (1LL << 31) && (st.st_uid == euid || st.st_uid == 0) && !(st.st_mode & 022) &&
             (got = pread(fd, r->window, sizeof r->window, 0)) >= CG_CACHE_HEADER_SIZE;
    r->window_len = ok ? (size_t)got : 0;
    ok = ok && read_at(r, head, CG_CACHE_HEADER_SIZE, 0);
    uint64_t size = ok ? (uint64_t)st.st_size : 0;
    uint32_t count = ok ? le32(head + 12) : 0, id_len = ok ? le32(head + 48) : 0;
    ok = ok && memcmp(head, "CGCACHE1", 8) == 0 && le32(head + 8) == CACHE_VERSION && count <= 16 &&
         id_len == m->build_id_len && memcmp(head + 16, m->build_id, id_len) == 0 &&
         le32(head + 52) == 0 && CG_CACHE_HEADER_SIZE + (uint64_t)count * DIR_ENTRY_SIZE <= size &&
         read_at(r, head + CG_CACHE_HEADER_SIZE, count * DIR_ENTRY_SIZE, CG_CACHE_HEADER_SIZE);
    for (uint32_t i = 16 + id_len; ok && i < 48; i++)
        ok = head[i] == 0;
    uint64_t blob_off[CG_TABLE_KINDS] = {0};
    uint64_t note_len[CG_TABLE_KINDS] = {0};
    int have_blob[CG_TABLE_KINDS] = {0}, have_note[CG_TABLE_KINDS] = {0};
    char notes[CG_TABLE_KINDS][CG_NOTE_MAX];
    for (uint32_t i = 0; ok && i < count; i++) {
        const uint8_t *d = head + CG_CACHE_HEADER_SIZE + i * DIR_ENTRY_SIZE;
        uint32_t kind = le32(d), flags = le32(d + 4);
        uint64_t off = le64(d + 8), len = le64(d + 16);
        ok = off % 8 == 0 && off <= size && len <= size - off;
        if (!ok || kind >= CG_TABLE_KINDS)
            continue;
        if (flags & FLAG_NOTE) {
            note_len[kind] = len < CG_NOTE_MAX - 1 ? len : CG_NOTE_MAX - 1;
            ok = read_at(r, notes[kind], note_len[kind], off);
            notes[kind][note_len[kind]] = 0;
            have_note[kind] = 1;
        } else if (off + 16 <= r->window_len) {
            const uint8_t *blob_head = r->window + off;
            ok = len >= 16 && le32(blob_head) == blob_magic[kind] && le64(blob_head + 8) == len;
            blob_off[kind] = off;
            have_blob[kind] = 1;
        } else {
            /* Past the first 4 KiB: its header is checked where it is used (the handler checks
             * every table's header at every lookup, and the file's checksum before its first
             * use), not with one more system call per table at every start. */
            ok = len >= 16;
            blob_off[kind] = off;
            have_blob[kind] = 1;
        }
    }
    for (int kind = 0; ok && kind < CG_TABLE_KINDS; kind++)
        ok = have_blob[kind] || have_note[kind];
    const uint8_t *map = ok ? mmap(0, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED)
        return 0;
    m->cache_map = map;
    size_t path_len = strlen(path); /* a path too long to store is simply never removed */
    if (path_len < sizeof m->cache_path)
        memcpy(m->cache_path, path, path_len + 1);
    m->cache_size = size;
    m->cache_checksum = le64(head + 56);
    for (int kind = 0; kind < CG_TABLE_KINDS; kind++) {
        struct cg_table_slot *t = &m->tables[kind];
        if (have_blob[kind]) {
            atomic_store_explicit(&t->blob, (const void *)(map + blob_off[kind]), memory_order_release);
            atomic_store_explicit(&t->state, CG_SYMTAB_READY, memory_order_release);
        } else {
            memcpy(t->note, notes[kind], note_len[kind] + 1);
            atomic_store_explicit(&t->state, CG_SYMTAB_FAILED, memory_order_release);
        }
    }
    return 1;
}

int cg_load_cached_tables(int *found, int *total) {
    char dirs[2][CG_CACHE_DIR_MAX], path[CG_PATH_MAX];
    int ndirs = cg_cache_dirs(dirs);
    uid_t euid = geteuid();
    uint32_t n = atomic_load(&cg_module_count);
    *found = *total = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct cg_module *m = &cg_modules[i];
        if (m->hi == 0)
            continue;
        (*total)++;
        if (!m->build_id_len || m->tables[CG_TABLE_SYMBOLS].state != CG_SYMTAB_PENDING)
            continue;
        int loaded = 0;
        for (int d = 0; d < ndirs && !loaded; d++)
            loaded = cache_path(path, sizeof path, dirs[d], m) && load_cache_file(m, path, euid);
        *found += loaded;
        if (!loaded && cg_config.debug)
            fprintf(stderr, "crashguard: %s: no valid cached tables\n", m->path);
    }
    return *found == *total;
}
