//go:build ignore

/*
 * registry.c — the module registry's one writer function, and the crash-time refresh.
 *
 * Entries are appended in place and published by a release store of the count; an unloaded
 * module is taken out of every lookup (hi first, then lo) before its addresses can be reused,
 * and revived in place when the same file is loaded again.  One writer at a time: load-time
 * writers (the constructor, the dlopen interposer) and the reporting thread claim the
 * registry with a compare-and-swap of their thread id; readers never wait.
 */
#include "registry.h"

#include <elf.h>
#include <sys/mman.h>

#include "out.h"
#include "sys.h"

static struct cg_module first_chunk[CG_MODULE_CHUNK];
struct cg_module *_Atomic cg_module_chunks[CG_MODULE_CHUNKS] = {first_chunk};
_Atomic uint32_t cg_module_count;

/* ---- one writer at a time ---- */

static _Atomic pid_t registry_writer;

int cg_registry_claim(int wait_ms) {
    pid_t self = cg_sys_gettid();
    for (int waited = 0;; waited++) {
        pid_t none = 0;
        if (atomic_compare_exchange_strong(&registry_writer, &none, self))
            return 1;
        /* The crashing thread itself was changing the registry: its state is unknown. */
        if (none == self || waited >= wait_ms)
            return 0;
        cg_sys_sleep_ms(1);
    }
}

void cg_registry_release(void) { atomic_store(&registry_writer, 0); }

/* ---- entries ---- */

int cg_build_id_from_notes(const char *p, size_t len, uint8_t *id, uint32_t *id_len) {
    const char *end = p + len;
    while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
        ElfW(Nhdr) n;
        __builtin_memcpy(&n, p, sizeof n);
        size_t name = (n.n_namesz + 3) & ~(size_t)3, desc = (n.n_descsz + 3) & ~(size_t)3;
        if (name > (size_t)(end - p) - sizeof n || desc > (size_t)(end - p) - sizeof n - name)
            return 0;
        const char *note_name = p + sizeof n;
        if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 && note_name[0] == 'G' &&
            note_name[1] == 'N' && note_name[2] == 'U' && note_name[3] == 0 && n.n_descsz > 0) {
            *id_len = n.n_descsz < CG_BUILD_ID_MAX ? n.n_descsz : CG_BUILD_ID_MAX;
            __builtin_memcpy(id, note_name + name, *id_len);
            return 1;
        }
        p += sizeof n + name + desc;
    }
    return 0;
}

static int same_build_id(const struct cg_module *a, const struct cg_module *b) {
    if (a->build_id_len != b->build_id_len)
        return 0;
    for (uint32_t i = 0; i < a->build_id_len; i++)
        if (a->build_id[i] != b->build_id[i])
            return 0;
    return 1;
}

/* The caller holds the registry.  Returns the entry now describing the module, or 0 when
 * the registry is full. */
struct cg_module *cg_register_module(const struct cg_module *fresh, uint8_t *seen) {
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        struct cg_module *m = cg_module_at(i);
        if (m->hi == fresh->hi && m->lo == fresh->lo && m->bias == fresh->bias) {
            cg_mark_seen(seen, i);
            return m;
        }
    }
    /* A library opened again after dlclose (plugin reloads, a dlopen/dlclose loop): its
     * tables are relative to its load bias and still valid, so the dead entry comes back at
     * the new addresses.  Appending instead would fill the registry on every cycle. */
    for (uint32_t i = 0; i < n; i++) {
        struct cg_module *m = cg_module_at(i);
        if (m->hi != 0 || !fresh->build_id_len || !same_build_id(m, fresh) || !cg_streq(m->path, fresh->path))
            continue;
        __atomic_store_n(&m->bias, fresh->bias, __ATOMIC_RELAXED);
        __atomic_store_n(&m->lo, fresh->lo, __ATOMIC_RELAXED);
        __atomic_store_n(&m->hi, fresh->hi, __ATOMIC_RELEASE); /* last: the entry is live again */
        cg_mark_seen(seen, i);
        return m;
    }
    if (n >= CG_MAX_MODULES)
        return 0;
    if (n % CG_MODULE_CHUNK == 0 && !atomic_load(&cg_module_chunks[n / CG_MODULE_CHUNK])) {
        /* A host with more modules than a chunk holds: one more, zeroed by the kernel. */
        void *chunk = cg_sys_mmap(0, sizeof first_chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (CG_MMAP_FAILED(chunk))
            return 0;
        atomic_store_explicit(&cg_module_chunks[n / CG_MODULE_CHUNK], chunk, memory_order_release);
    }
    /* Filled in place, unpublished until the count covers it. */
    struct cg_module *m = cg_module_at(n);
    m->bias = fresh->bias;
    m->lo = fresh->lo;
    m->hi = fresh->hi;
    m->build_id_len = fresh->build_id_len;
    __builtin_memcpy(m->build_id, fresh->build_id, sizeof m->build_id);
    __builtin_memcpy(m->path, fresh->path, sizeof m->path);
    cg_mark_seen(seen, n);
    atomic_store_explicit(&cg_module_count, n + 1, memory_order_release);
    return m;
}

void cg_mark_unseen_dead(const uint8_t *seen) {
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_relaxed);
    for (uint32_t i = 1; i < n; i++) { /* the program (0) is never unloaded */
        struct cg_module *m = cg_module_at(i);
        if (cg_was_seen(seen, i) || m->hi == 0)
            continue;
        /* Unloaded: take it out of every lookup before its addresses can be reused. */
        __atomic_store_n(&m->hi, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&m->lo, 0, __ATOMIC_RELEASE);
    }
}

/* ---- at a crash: the loader's link maps, read with checked reads ---- */

static int read_bytes(struct cg_reader *rd, uintptr_t addr, void *out, size_t n) {
    char *dst = out;
    for (size_t done = 0; done < n; done += 8) {
        uintptr_t w;
        if (!read_word(rd, addr + done, &w))
            return 0;
        __builtin_memcpy(dst + done, &w, n - done < 8 ? n - done : 8);
    }
    return 1;
}

static int read_string(struct cg_reader *rd, uintptr_t addr, char *out, size_t size) {
    for (size_t i = 0; i + 1 < size; i += 8) {
        uintptr_t w;
        if (!read_word(rd, addr + i, &w))
            return 0;
        for (size_t k = 0; k < 8 && i + k + 1 < size; k++) {
            out[i + k] = (char)(w >> (8 * k));
            if (!out[i + k])
                return 1;
        }
    }
    out[size - 1] = 0;
    return 1;
}

static struct {
    uint8_t seen[CG_SEEN_BYTES];
    struct cg_module fresh;
    ElfW(Phdr) phdrs[32];
    char notes[1024];
} crash_scan; /* static: the handler may run on a small stack; only the reporter uses it */

/* A shared object's ELF header sits at its load bias (its first segment starts at address
 * 0); the program's own entry is already registered from load time. */
static int describe_mapped_object(struct cg_reader *rd, uintptr_t bias, struct cg_module *fresh) {
    ElfW(Ehdr) eh;
    if (!bias || !read_bytes(rd, bias, &eh, sizeof eh) || eh.e_ident[EI_MAG0] != ELFMAG0 ||
        eh.e_ident[EI_MAG1] != ELFMAG1 || eh.e_ident[EI_MAG2] != ELFMAG2 ||
        eh.e_ident[EI_MAG3] != ELFMAG3 || eh.e_type != ET_DYN || eh.e_phentsize != sizeof(ElfW(Phdr)) ||
        eh.e_phnum == 0 || eh.e_phnum > 32 || eh.e_phoff > 65536)
        return 0;
    if (!read_bytes(rd, bias + eh.e_phoff, crash_scan.phdrs, eh.e_phnum * sizeof(ElfW(Phdr))))
        return 0;
    fresh->bias = bias;
    fresh->lo = UINTPTR_MAX;
    fresh->hi = 0;
    fresh->build_id_len = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        const ElfW(Phdr) *ph = &crash_scan.phdrs[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t l = bias + ph->p_vaddr, h = l + ph->p_memsz;
            fresh->lo = l < fresh->lo ? l : fresh->lo;
            fresh->hi = h > fresh->hi ? h : fresh->hi;
        } else if (ph->p_type == PT_NOTE && !fresh->build_id_len && ph->p_memsz <= sizeof crash_scan.notes &&
                   read_bytes(rd, bias + ph->p_vaddr, crash_scan.notes, ph->p_memsz)) {
            cg_build_id_from_notes(crash_scan.notes, ph->p_memsz, fresh->build_id, &fresh->build_id_len);
        }
    }
    return fresh->hi != 0 && fresh->lo == bias;
}

/* Walks one namespace's chain; returns 0 if a link could not be read (the walk is then
 * incomplete, and nothing may be declared unloaded from it). */
static int walk_chain(struct cg_reader *rd, uintptr_t map, int *added) {
    for (int steps = 0; map && steps < CG_MAX_MODULES; steps++) {
        struct link_map lm;
        if (!read_bytes(rd, map, &lm, sizeof lm))
            return 0;
        struct cg_module *fresh = &crash_scan.fresh;
        if (!lm.l_name || !read_string(rd, (uintptr_t)lm.l_name, fresh->path, sizeof fresh->path))
            fresh->path[0] = 0;
        if (fresh->path[0] == 0 && steps == 0) {
            cg_mark_seen(crash_scan.seen, 0); /* the program */
        } else {
            uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_relaxed);
            uint32_t i = 0;
            for (; i < n; i++) {
                const struct cg_module *m = cg_module_at(i);
                if (m->hi && m->bias == lm.l_addr && cg_streq(m->path, fresh->path))
                    break;
            }
            if (i < n)
                cg_mark_seen(crash_scan.seen, i);
            else if (describe_mapped_object(rd, lm.l_addr, fresh) && cg_register_module(fresh, crash_scan.seen))
                (*added)++;
        }
        map = (uintptr_t)lm.l_next;
    }
    return 1;
}

int cg_refresh_modules_at_crash(struct cg_reader *rd) {
    /* A load-time refresh in another thread is a few microseconds of work. */
    if (!cg_registry_claim(100))
        return -1;
    __builtin_memset(crash_scan.seen, 0, sizeof crash_scan.seen);
    int added = 0, complete = 1;
    /* r_debug_extended (glibc 2.35+, r_version 2) chains one r_debug per namespace. */
    uintptr_t debug = (uintptr_t)&_r_debug;
    for (int ns = 0; debug && ns < 16; ns++) {
        struct r_debug_extended rx;
        if (!read_bytes(rd, debug, &rx, ns == 0 ? sizeof rx.base : sizeof rx)) {
            complete = 0;
            break;
        }
        if (!walk_chain(rd, (uintptr_t)rx.base.r_map, &added))
            complete = 0;
        if (rx.base.r_version < 2)
            break;
        if (ns == 0 && !read_bytes(rd, debug + offsetof(struct r_debug_extended, r_next), &rx.r_next, sizeof rx.r_next))
            break;
        debug = (uintptr_t)rx.r_next;
    }
    if (complete)
        cg_mark_unseen_dead(crash_scan.seen);
    cg_registry_release();
    return added;
}
