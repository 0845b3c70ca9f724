/*
 * report.h — the report, text or JSON, composed from the signal, the ucontext, the unwound
 * stack, the published tables and the context.  docs/report.md shows the format.
 */
#ifndef CG_REPORT_H
#define CG_REPORT_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "out.h"

#define CG_UNBOUNDED ((size_t)-1)

/* How one destination sees the report. */
struct cg_report_view {
    size_t cap;       /* bytes, CG_UNBOUNDED for none: other threads are written while they fit */
    int hard;         /* the bound holds for the crashing thread's frames too */
    int registers;    /* 0: the registers are left out */
    int addresses;    /* 0: raw addresses (pcs, load bases, the fault address past the NULL
                         page) and the memory map are left out; module+offset stays */
    const char *why;  /* why something is left out, for the report */
};

/* Works the crash out: stack, diagnosis, message, context, signature.  Once, first. */
void report_prepare(int sig, const siginfo_t *info, void *ucontext, pid_t tid);
/* Writes one rendering to o (every descriptor it has; o->total bytes).  The first asks the
 * other threads for their backtraces, after its crashing thread is written and flushed. */
void report_compose(struct cg_out *o, const struct cg_report_view *v);
/* AT_SECURE, or not dumpable at the crash (after report_prepare). */
int report_privileged(void);
/* The diagnosis (NULL if none) and signature of the report last prepared. */
const char *last_report_diagnosis(void);
uint64_t last_report_signature(void);
#endif
