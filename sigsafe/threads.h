/*
 * threads.h — the other threads' stacks at the moment of a crash.
 */
#ifndef CG_THREADS_H
#define CG_THREADS_H

#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

#include "unwind.h"

#define CG_MAX_OTHER_THREADS 64

/* A thread's whole register state at the signal, as the minidump needs it (minidump.c):
 * the general registers of the ucontext, the FXSAVE area the kernel saved (x87, SSE,
 * MXCSR), and the thread's own stack bounds, which only the thread can read (its TLS). */
struct cg_thread_context {
    uint64_t gregs[NGREG];
    uint8_t fpstate[512]; /* valid when has_fp */
    int has_fp;
    uintptr_t stack_lo, stack_hi; /* 0, 0: unknown */
};

struct cg_thread_snapshot {
    pid_t tid;
    int answered; /* 1: stack holds its backtrace; 0: it did not answer in time */
    struct cg_stack stack;
    struct cg_thread_context context; /* filled with stack when answered */
};

/* Asks every other thread of the process to unwind itself (a real-time signal, sent only
 * to threads that do not block it), waits a bounded time, and returns how many threads
 * there were (answered or not); snapshots[] describes at most CG_MAX_OTHER_THREADS.  The
 * asked threads stay parked in our signal handler, and the handler stays installed, until
 * the process dies or release_asked_threads() is called. */
int collect_other_threads(pid_t self, const struct cg_thread_snapshot **snapshots, int *blocked);

/* For the handler, when the process is to live on after a report (a handler that was there
 * before ours takes the signal): the asked threads return to what they were doing, the
 * host's signals held back meanwhile are delivered, and the host's disposition of the
 * signal goes back in as soon as no request of ours can still arrive.  Never on the fatal
 * path: there the threads die parked.  Does nothing when no thread was asked. */
void release_asked_threads(void);

/* The snapshots of the last collect_other_threads() of this process (answered or not), for
 * a second output from the same pass (the minidump); returns how many, 0 if none. */
int collected_threads(const struct cg_thread_snapshot **snapshots);

/* Copies what the ucontext holds (registers, FXSAVE area) and the calling thread's stack
 * bounds into *out.  Async-signal-safe; the calling thread's own ucontext only. */
void capture_thread_context(const void *ucontext, struct cg_thread_context *out);
#endif
