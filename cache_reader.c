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
static int cache_dirs(char dirs[2][CG_PATH_MAX - 96]) {
    int n = 0;
    const char *v;
    if (!getauxval(AT_SECURE)) {
        struct stat st;
        char fallback[64];
        if ((v = getenv("CRASHGUARD_CACHE_DIR")) && *v)
            snprintf(dirs[n++], CG_PATH_MAX - 96, "%s", v);
        else if ((v = getenv("XDG_CACHE_HOME")) && v[0] == '/')
            snprintf(dirs[n++], CG_PATH_MAX - 96, "%s/crashguard", v);
        else if ((v = getenv("HOME")) && v[0] == '/' && v[1])
            snprintf(dirs[n++], CG_PATH_MAX - 96, "%s/.cache/crashguard", v);
        else if (snprintf(fallback, sizeof fallback, "/var/tmp/crashguard-%u", (unsigned)geteuid()) > 0 &&
                 lstat(fallback, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
                 !(st.st_mode & 077))
            snprintf(dirs[n++], CG_PATH_MAX - 96, "%s", fallback);
    }
    snprintf(dirs[n++], CG_PATH_MAX - 96, "/var/cache/crashguard");
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
    int n = snprintf(out, size, "%s/%.2s/%s.cg", dir, id, id + 2);
    return n > 0 && (size_t)n < size;
}

/* Maps and checks one cache file; publishes its tables into m on success. */
static int load_cache_file(struct cg_module *m, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= CG_CACHE_HEADER_SIZE &&
             st.st_size < (1LL << 31) && (st.st_uid == geteuid() || st.st_uid == 0) &&
             !(st.st_mode & 022);
    const uint8_t *map = ok ? mmap(0, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED)
        return 0;
    uint64_t size = (uint64_t)st.st_size;
    uint32_t count = le32(map + 12), id_len = le32(map + 48);
    ok = memcmp(map, "CGCACHE1", 8) == 0 && le32(map + 8) == CACHE_VERSION && count <= 16 &&
         id_len == m->build_id_len && memcmp(map + 16, m->build_id, id_len) == 0 &&
         le32(map + 52) == 0 && CG_CACHE_HEADER_SIZE + (uint64_t)count * DIR_ENTRY_SIZE <= size;
    for (uint32_t i = 16 + id_len; ok && i < 48; i++)
        ok = map[i] == 0;
    const void *blobs[CG_TABLE_KINDS] = {0};
    const char *notes[CG_TABLE_KINDS] = {0};
    uint64_t note_len[CG_TABLE_KINDS] = {0};
    for (uint32_t i = 0; ok && i < count; i++) {
        const uint8_t *d = map + CG_CACHE_HEADER_SIZE + i * DIR_ENTRY_SIZE;
        uint32_t kind = le32(d), flags = le32(d + 4);
        uint64_t off = le64(d + 8), len = le64(d + 16);
        ok = off % 8 == 0 && off <= size && len <= size - off;
        if (!ok || kind >= CG_TABLE_KINDS)
            continue;
        if (flags & FLAG_NOTE) {
            notes[kind] = (const char *)map + off;
            note_len[kind] = len;
        } else {
            ok = len >= 16 && le32(map + off) == blob_magic[kind] && le64(map + off + 8) == len;
            blobs[kind] = map + off;
        }
    }
    for (int kind = 0; ok && kind < CG_TABLE_KINDS; kind++)
        ok = blobs[kind] || notes[kind];
    if (!ok) {
        munmap((void *)map, size);
        return 0;
    }
    m->cache_map = map;
    size_t path_len = strlen(path); /* a path too long to store is simply never removed */
    if (path_len < sizeof m->cache_path)
        memcpy(m->cache_path, path, path_len + 1);
    m->cache_size = size;
    m->cache_checksum = le64(map + 56);
    for (int kind = 0; kind < CG_TABLE_KINDS; kind++) {
        struct cg_table_slot *t = &m->tables[kind];
        if (blobs[kind]) {
            atomic_store_explicit(&t->blob, blobs[kind], memory_order_release);
            atomic_store_explicit(&t->state, CG_SYMTAB_READY, memory_order_release);
        } else {
            size_t n = note_len[kind] < CG_NOTE_MAX - 1 ? note_len[kind] : CG_NOTE_MAX - 1;
            memcpy(t->note, notes[kind], n);
            t->note[n] = 0;
            atomic_store_explicit(&t->state, CG_SYMTAB_FAILED, memory_order_release);
        }
    }
    return 1;
}

int cg_load_cached_tables(int *found, int *total) {
    char dirs[2][CG_PATH_MAX - 96], path[CG_PATH_MAX];
    int ndirs = cache_dirs(dirs);
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
            loaded = cache_path(path, sizeof path, dirs[d], m) && load_cache_file(m, path);
        *found += loaded;
        if (!loaded && cg_config.debug)
            fprintf(stderr, "crashguard: %s: no valid cached tables\n", m->path);
    }
    return *found == *total;
}
