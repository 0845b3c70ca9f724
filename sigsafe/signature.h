/*
 * signature.h — the crash signature (signature.c; docs/report.md specifies it).
 */
#ifndef CG_SIGNATURE_H
#define CG_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

#include "crashguard.h"
#include "unwind.h"

struct cg_signature_frame {
    const struct cg_module *module; /* 0: outside every module */
    const char *name;               /* 0: no symbol */
    size_t name_len;                /* as hashed: without clone suffixes or Rust's hash */
    uint64_t offset;                /* in the module (pc - load bias) */
    int trampoline;
};

#define CG_SIGNATURE_FRAMES_MAX 5

/* The signature of a crash by signal (its name) with the crashing thread's stack s and the
 * C++ exception type in flight (or 0); chosen[CG_SIGNATURE_FRAMES_MAX] receives the frames
 * hashed, *nchosen how many. */
uint64_t cg_crash_signature(const struct cg_stack *s, const char *signal, const char *exception_type,
                            struct cg_signature_frame *chosen, int *nchosen);
/* A frame's module, name and offset, as the signature takes them. */
void cg_signature_frame(const struct cg_frame *f, struct cg_signature_frame *out);
/* A module's file name (the executable's resolved). */
const char *cg_module_name(const struct cg_module *m);
/* Whether m is part of the C or C++ runtime (libc, the loader, libstdc++, ...). */
int cg_runtime_module(const struct cg_module *m);
size_t cg_signature_name_len(const char *name, size_t n);
#endif
