/*
 * report.h — the text report, composed from the signal, the ucontext, the unwound stack
 * and the published tables.  docs/report.md shows the format.
 */
#ifndef CG_REPORT_H
#define CG_REPORT_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "out.h"

void write_report(struct cg_out *o, int sig, const siginfo_t *info, void *ucontext, pid_t tid);
/* The diagnosis (NULL if none) and signature of the report last written. */
const char *last_report_diagnosis(void);
uint64_t last_report_signature(void);
#endif
