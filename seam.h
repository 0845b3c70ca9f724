/*
 * seam.h — how the Go part, loaded only on cold starts (go_part.c), reaches the C part.
 *
 * The C part is the preloaded library; the Go part is a separate c-shared object embedded
 * in it and dlopen'ed privately, so neither exports anything to the other or to the host.
 * The C part carries an ELF note (name "crashguard", type CG_SEAM_NOTE_TYPE) whose 8-byte
 * descriptor is the distance from the descriptor itself to its struct cg_seam, resolved at
 * link time; the Go part finds the note with dl_iterate_phdr and reads and writes the
 * registry only through that structure.
 */
#ifndef CG_SEAM_H
#define CG_SEAM_H
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sigsafe/crashguard.h"

#define CG_SEAM_NOTE_NAME "crashguard"
#define CG_SEAM_NOTE_TYPE 0x43475331 /* "CGS1" */
#define CG_SEAM_VERSION 1

struct cg_seam {
    uint32_t version;
    uint32_t size; /* sizeof(struct cg_seam): both parts come from one build */
    struct cg_module *modules;
    _Atomic uint32_t *module_count;
    struct cg_config *config;
    char *global_note;
    _Atomic uint32_t *global_note_set;
    _Atomic uint32_t *precompute_done;
    void (*wait_for_module_change)(void);
    void (*module_change_handled)(void);
};

/* The descriptor of the first note of this type and name (with its NUL) in a loaded
 * PT_NOTE segment, its size in *desc_size; 0 if none.  Both parts read notes: the C part
 * the modules' build-ids, the Go part the seam's note. */
static inline const char *cg_find_note(const ElfW(Phdr) *ph, uintptr_t bias, uint32_t type,
                                       const char *name, uint32_t name_size, uint32_t *desc_size) {
    const char *p = (const char *)(bias + ph->p_vaddr), *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
        const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
        const char *note_name = p + sizeof *n, *desc = note_name + ((n->n_namesz + 3) & ~(size_t)3);
        const char *next = desc + ((n->n_descsz + 3) & ~(size_t)3);
        if (next > end)
            return 0;
        if (n->n_type == type && n->n_namesz == name_size && memcmp(note_name, name, name_size) == 0) {
            *desc_size = n->n_descsz;
            return desc;
        }
        p = next;
    }
    return 0;
}
#endif
