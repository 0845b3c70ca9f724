/*
 * minidump.h — CRASHGUARD_OUTPUT=minidump:PATTERN: the crash as a minidump, the file
 * Breakpad, Crashpad and Sentry ingest (docs/minidump.md).
 */
#ifndef CG_MINIDUMP_H
#define CG_MINIDUMP_H

#include <signal.h>
#include <sys/types.h>

/* Writes the minidump, if one is configured.  Called once the report is out, on the
 * report's stack, by the thread that claimed the report (tid): the other threads' registers
 * and stacks come from the report's own pass over them (collected_threads()), which keeps
 * them parked while their stacks are copied.  A dump that cannot be written whole leaves no
 * file.  Returns the file's name, or 0 when none was written. */
const char *cg_write_minidump(int sig, const siginfo_t *info, void *ucontext, pid_t tid);
#endif
