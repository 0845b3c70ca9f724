/*
 * go_offsets.h — where, inside this library, the Go runtime keeps two things the priority
 * constructor must reach before Go starts: its init entry and its signal table.  Their
 * symbols are local to the Go object, so build.sh reads their addresses with nm after the
 * link and writes them into this structure's bytes in the built library (found by the
 * magic string).  Zero means "not patched": the constructor then leaves Go alone.
 */
#ifndef CG_GO_OFFSETS_H
#define CG_GO_OFFSETS_H
#include <stdint.h>

struct cg_go_offsets {
    char magic[16];
    uint64_t rt0;      /* _rt0_amd64_linux_lib, relative to the library's load base */
    uint64_t sigtable; /* runtime.sigtable */
};
extern volatile const struct cg_go_offsets cg_go_offsets;
#endif
