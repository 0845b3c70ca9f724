//go:build ignore

/*
 * sigaction_interpose.c — the program keeps its view of its crash-signal dispositions, and
 * a program that gives a crash signal back to the default still gets our report.
 *
 * For the crash signals our handler holds or stands by for (the constructor said so with
 * cg_hold_signal or cg_stand_by_signal), every C library entry point that sets or reads a
 * disposition is interposed:
 *   - a query returns what the program (or its parent, or a library before us) set, not our
 *     handler, so nothing the program inspects changed;
 *   - a program installing a handler of its own (or SIG_IGN) gets it, as without us: ours is
 *     off the path until the program gives the signal back;
 *   - a program setting the default (faulthandler, absl, many C programs do so when their
 *     own handler gives up, then re-raise) is recorded as wanting the default, and our
 *     handler stands in for it in the kernel: the re-raised signal reaches us, we report, and
 *     die of it with the default action — the death the program asked for.
 * A default is a zero handler, with or without SA_SIGINFO (sa_handler and sa_sigaction
 * share their storage; the kernel knows no other default).  The entry points: sigaction and
 * the exported __sigaction; signal and its aliases bsd_signal and ssignal; sysv_signal and
 * __sysv_signal; sigset; sigignore; siginterrupt.  glibc implements all of these with a
 * call to its internal __sigaction that no interposer sees, so each is re-implemented here,
 * for the crash signals only, with glibc's flags and masks (glibc's sysdeps/posix signal.c,
 * sysv_signal.c, sigset.c, sigignore.c, siginterrupt.c); every other signal goes to the C
 * library's own function.  glibc's internal calls (abort's second raise, posix_spawn's
 * child) still do not come through here.
 *
 * Off means untouched: when the constructor neither held nor stood by for a signal (the
 * library off, the program not covered), every call is passed through.
 *
 * Load-time code: the handler calls the real sigaction through cg_config.sigaction, and
 * reads the program's disposition through cg_previous_action (sigaction_state.h), which
 * never waits for this file's writers.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "interpose.h"
#include "sigaction_state.h"
#include "sigsafe/crashguard.h"

#ifndef SA_UNSUPPORTED
#define SA_UNSUPPORTED 0x00000400
#endif
#ifndef SA_EXPOSE_TAGBITS
#define SA_EXPOSE_TAGBITS 0x00000800
#endif
#if defined(__x86_64__) && !defined(SA_RESTORER)
#define SA_RESTORER 0x04000000
#endif

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t (*signal_fn)(int, sighandler_t);
typedef int (*sigint_fn)(int, int);
typedef int (*sigignore_fn)(int);

/* The C library's function called name, past us; resolved on first use (constructors of the
 * host's libraries run before ours). */
static void *next_symbol(_Atomic(void *) *cache, const char *name) {
    void *fn = atomic_load_explicit(cache, memory_order_acquire);
    if (!fn) {
        fn = dlsym(RTLD_NEXT, name);
        atomic_store_explicit(cache, fn, memory_order_release);
    }
    return fn;
}
#define NEXT(type, name)                   \
    ({                                     \
        static _Atomic(void *) cache_;     \
        (type) next_symbol(&cache_, name); \
    })

int cg_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    sigaction_fn fn = NEXT(sigaction_fn, "sigaction");
    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    return fn(sig, act, old);
}

/* ---- what the program believes, readable by the handler without a lock ---- */

/* Two copies per signal and a generation: a writer (one at a time, under the lock below)
 * fills the copy the current generation does not name, then publishes the next generation
 * with a release store.  A reader copies the named one and checks the generation did not
 * move meanwhile; while it has not, nobody writes the copy being read — so a handler never
 * waits for a writer (which may be this very thread, interrupted) and never gets a struct
 * half old and half new (before: a torn action could be installed by die_as_before).
 * Generation 0 names cg_crash_dispositions[slot].prev as the constructor wrote it. */
static struct sigaction believed_copy[CG_NCRASH][2];
static _Atomic uint32_t believed_gen[CG_NCRASH];

void cg_previous_action(int slot, struct sigaction *out) {
    if (slot >= 0 && slot < CG_NCRASH) {
        /* A retry needs a writer to finish a whole update meanwhile: bounded in practice;
         * the cap only keeps a handler from spinning behind a program that does nothing but
         * change its dispositions. */
        for (int tries = 0; tries < 1000; tries++) {
            uint32_t gen = atomic_load_explicit(&believed_gen[slot], memory_order_acquire);
            const struct sigaction *src =
                gen ? &believed_copy[slot][gen & 1] : &cg_crash_dispositions[slot].prev;
            memcpy(out, src, sizeof *out);
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&believed_gen[slot], memory_order_relaxed) == gen)
                return;
        }
    }
    memset(out, 0, sizeof *out); /* SIG_DFL: the death without us, for a signal we do not know */
}

/* Under the lock. */
static void publish_believed(int slot, const struct sigaction *act) {
    uint32_t gen = atomic_load_explicit(&believed_gen[slot], memory_order_relaxed) + 1;
    if (!gen)
        gen = 2; /* wrapped: 0 names the constructor's copy; 2 keeps the copies alternating */
    /* The copy about to be written is the one a reader of the generation before last may
     * still be reading: none of these stores may be seen before that generation moved on
     * (pairs with the reader's acquire fence). */
    atomic_thread_fence(memory_order_release);
    believed_copy[slot][gen & 1] = *act;
    atomic_store_explicit(&believed_gen[slot], gen, memory_order_release);
    /* handler.c still reads this field directly until it calls cg_previous_action; the
     * generation moved first, so cg_previous_action never reads it torn. */
    cg_crash_dispositions[slot].prev = *act;
}

/* ---- one writer at a time ---- */

/* Writers: the program's threads (and its signal handlers: sigaction is async-signal-safe,
 * and the re-raise pattern calls it inside a crash handler).  A lock held by a thread that a
 * signal then interrupts would deadlock a handler calling sigaction on that thread: every
 * signal is blocked while it is held.  A pthread mutex would stay locked forever in a child
 * forked while another thread held it: the lock word holds the holder's pid, and a waiter
 * in another process (the child) takes it over. */
static _Atomic uint64_t writer_pid;

static void lock(sigset_t *saved) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, saved);
    uint64_t me = (uint64_t)getpid(), seen = 0;
    while (!atomic_compare_exchange_weak_explicit(&writer_pid, &seen, me, memory_order_acquire,
                                                  memory_order_relaxed)) {
        if (seen != 0 && seen != me) {
            /* Held in the parent at fork(): no thread of this process will release it. */
            if (atomic_compare_exchange_strong_explicit(&writer_pid, &seen, me, memory_order_acquire,
                                                        memory_order_relaxed))
                return;
        } else {
            sched_yield();
        }
        seen = 0;
    }
}

static void unlock(const sigset_t *saved) {
    atomic_store_explicit(&writer_pid, 0, memory_order_release);
    pthread_sigmask(SIG_SETMASK, saved, 0);
}

/* ---- the state the constructor sets ---- */

/* 1 once the constructor gave us a signal (ours is known): only then is anything
 * intercepted for it. */
static _Atomic int known[CG_NCRASH];

/* The first time for a signal (the constructor, at every start) needs no lock: nothing
 * reads the slot's state before known says so.  Later calls (the constructor taking a signal
 * back from the Go runtime) may meet a writer. */
static void record_ours(int sig, const struct sigaction *ours, int held) {
    int slot = cg_crash_slot(sig);
    if (slot < 0)
        return;
    struct cg_crash_disposition *d = &cg_crash_dispositions[slot];
    if (!atomic_load_explicit(&known[slot], memory_order_acquire)) {
        d->ours = *ours;
        d->held = held;
        atomic_store_explicit(&known[slot], 1, memory_order_release);
        return;
    }
    sigset_t saved;
    lock(&saved);
    d->ours = *ours;
    d->held = held;
    unlock(&saved);
}

void cg_hold_signal(int sig, const struct sigaction *ours) { record_ours(sig, ours, 1); }

void cg_stand_by_signal(int sig, const struct sigaction *ours) { record_ours(sig, ours, 0); }

/* ---- a stand-in's old action, as the kernel would have kept it ---- */

/* A default we stand in for never reaches the kernel, yet a later query must return what
 * the kernel would: it drops SIGKILL and SIGSTOP from the mask, since Linux 5.11 clears flag
 * bits it does not know (SA_UNSUPPORTED tells whether it does), and glibc adds its signal
 * return trampoline (SA_RESTORER).  A program comparing what it set with what it reads
 * back (or printing it) sees no difference.  Learnt once, at the first stand-in, by
 * installing ours twice (once with a bit no kernel acts on): ours stays in all along. */
#define KERNEL_FLAGS                                                                   \
    (SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER | \
     SA_RESETHAND | SA_EXPOSE_TAGBITS)

static int kernel_learnt, clears_unknown_flags; /* under the lock */
static struct sigaction as_installed;          /* ours, read back */

static void as_the_kernel_keeps_it(int sig, struct sigaction *a, const struct sigaction *ours) {
    if (!kernel_learnt) {
        struct sigaction probe = *ours;
        probe.sa_flags |= SA_UNSUPPORTED;
        if (cg_real_sigaction(sig, &probe, 0) != 0 ||
            cg_real_sigaction(sig, ours, &as_installed) != 0)
            return;
        clears_unknown_flags = !(as_installed.sa_flags & SA_UNSUPPORTED);
        kernel_learnt = 1;
    }
    sigdelset(&a->sa_mask, SIGKILL);
    sigdelset(&a->sa_mask, SIGSTOP);
#ifdef SA_RESTORER
    if (clears_unknown_flags)
        a->sa_flags &= KERNEL_FLAGS | SA_RESTORER;
    /* ours went in through the C library: its trampoline is the one every action gets. */
    if (as_installed.sa_flags & SA_RESTORER) {
        a->sa_flags |= SA_RESTORER;
        a->sa_restorer = as_installed.sa_restorer;
    }
#else
    if (clears_unknown_flags)
        a->sa_flags &= KERNEL_FLAGS;
#endif
}

/* The kernel keeps 64 signals of a mask; what the C library returns beyond them is its own
 * scratch (zeros, mostly): zeros here. */
static void copy_out(struct sigaction *old, const struct sigaction *from) {
    old->sa_handler = from->sa_handler;
    memset(&old->sa_mask, 0, sizeof old->sa_mask);
    memcpy(&old->sa_mask, &from->sa_mask, 8);
    old->sa_flags = from->sa_flags;
#ifdef SA_RESTORER
    old->sa_restorer = from->sa_restorer;
#endif
}

/* ---- sigaction as the program sees it ---- */

static int program_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    int slot = cg_crash_slot(sig);
    if (slot < 0 || !atomic_load_explicit(&known[slot], memory_order_acquire))
        return cg_real_sigaction(sig, act, old);
    /* Copied before the lock: a bad pointer faults here, with signals deliverable, as it
     * would inside the C library's sigaction. */
    struct sigaction want;
    if (act)
        want = *act;
    struct cg_crash_disposition *d = &cg_crash_dispositions[slot];
    struct sigaction believed, kernel_old;
    int rc = 0, saved_errno = errno;
    sigset_t saved;
    lock(&saved);
    int held = d->held;
    if (held)
        cg_previous_action(slot, &believed);
    if (act && want.sa_handler == SIG_DFL) {
        /* Back to the default: we stand in for it (see the top of this file).  Ours goes in
         * also when held: glibc's internal calls (abort's) may have changed it behind us. */
        rc = cg_real_sigaction(sig, &d->ours, held ? 0 : &kernel_old);
        if (rc == 0) {
            as_the_kernel_keeps_it(sig, &want, &d->ours);
            publish_believed(slot, &want);
            d->held = 1;
        }
    } else if (act) {
        rc = cg_real_sigaction(sig, &want, held ? 0 : &kernel_old);
        if (rc == 0) {
            publish_believed(slot, &want);
            d->held = 0; /* the program's own handler (or ignore) is in the kernel now */
        }
    } else if (!held) {
        rc = cg_real_sigaction(sig, 0, &kernel_old);
    }
    if (rc != 0)
        saved_errno = errno;
    unlock(&saved);
    errno = saved_errno;
    if (rc == 0 && old)
        copy_out(old, held ? &believed : &kernel_old);
    return rc;
}

__attribute__((visibility("default"))) int sigaction(int sig, const struct sigaction *act,
                                                     struct sigaction *old) {
    return program_sigaction(sig, act, old);
}

/* glibc exports its internal name too (same code as sigaction). */
__attribute__((visibility("default"))) int __sigaction(int sig, const struct sigaction *act,
                                                       struct sigaction *old) {
    return program_sigaction(sig, act, old);
}

static int intercepted(int sig) {
    int slot = cg_crash_slot(sig);
    return slot >= 0 && atomic_load_explicit(&known[slot], memory_order_acquire);
}

/* siginterrupt's record, for the crash signals: signal() then leaves SA_RESTART out. */
static _Atomic int interrupts[CG_NCRASH];

/* glibc's __bsd_signal (signal, bsd_signal, ssignal): the signal blocked while its handler
 * runs, SA_RESTART unless siginterrupt said otherwise. */
static sighandler_t bsd_signal_for(int sig, sighandler_t handler) {
    if (handler == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    act.sa_flags = atomic_load(&interrupts[cg_crash_slot(sig)]) ? 0 : SA_RESTART;
    if (program_sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

__attribute__((visibility("default"))) sighandler_t signal(int sig, sighandler_t handler) {
    if (!intercepted(sig))
        return NEXT(signal_fn, "signal")(sig, handler);
    return bsd_signal_for(sig, handler);
}

__attribute__((visibility("default"))) sighandler_t bsd_signal(int sig, sighandler_t handler) {
    if (!intercepted(sig))
        return NEXT(signal_fn, "bsd_signal")(sig, handler);
    return bsd_signal_for(sig, handler);
}

__attribute__((visibility("default"))) sighandler_t ssignal(int sig, sighandler_t handler) {
    if (!intercepted(sig))
        return NEXT(signal_fn, "ssignal")(sig, handler);
    return bsd_signal_for(sig, handler);
}

/* glibc's __sysv_signal: one-shot, not blocked while it runs, system calls interrupted.
 * SA_INTERRUPT is a flag the kernel ignores (and, since 5.11, clears). */
static sighandler_t sysv_signal_for(int sig, sighandler_t handler) {
    if (handler == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    act.sa_flags = (SA_RESETHAND | SA_NODEFER | SA_INTERRUPT) & ~SA_RESTART;
    if (program_sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

__attribute__((visibility("default"))) sighandler_t sysv_signal(int sig, sighandler_t handler) {
    if (!intercepted(sig))
        return NEXT(signal_fn, "sysv_signal")(sig, handler);
    return sysv_signal_for(sig, handler);
}

__attribute__((visibility("default"))) sighandler_t __sysv_signal(int sig, sighandler_t handler) {
    if (!intercepted(sig))
        return NEXT(signal_fn, "__sysv_signal")(sig, handler);
    return sysv_signal_for(sig, handler);
}

/* glibc's sigset: SIG_HOLD blocks the signal; anything else is installed with no flags and
 * an empty mask and unblocks it.  Returns SIG_HOLD when the signal was blocked before. */
__attribute__((visibility("default"))) sighandler_t sigset(int sig, sighandler_t disp) {
    if (!intercepted(sig))
        return NEXT(signal_fn, "sigset")(sig, disp);
    sigset_t set, oset;
    struct sigaction act, oact;
    sigemptyset(&set);
    sigaddset(&set, sig);
    if (disp == SIG_HOLD) {
        if (sigprocmask(SIG_BLOCK, &set, &oset) < 0)
            return SIG_ERR;
        if (sigismember(&oset, sig))
            return SIG_HOLD;
        if (program_sigaction(sig, 0, &oact) < 0)
            return SIG_ERR;
        return oact.sa_handler;
    }
    memset(&act, 0, sizeof act);
    act.sa_handler = disp;
    sigemptyset(&act.sa_mask);
    if (program_sigaction(sig, &act, &oact) < 0)
        return SIG_ERR;
    if (sigprocmask(SIG_UNBLOCK, &set, &oset) < 0)
        return SIG_ERR;
    return sigismember(&oset, sig) ? SIG_HOLD : oact.sa_handler;
}

__attribute__((visibility("default"))) int sigignore(int sig) {
    if (!intercepted(sig))
        return NEXT(sigignore_fn, "sigignore")(sig);
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = SIG_IGN;
    sigemptyset(&act.sa_mask);
    return program_sigaction(sig, &act, 0);
}

/* glibc's siginterrupt reads the action, changes SA_RESTART and sets it again — through its
 * internal __sigaction, which would rewrite our handler's flags while the program's record
 * kept the old ones. */
__attribute__((visibility("default"))) int siginterrupt(int sig, int interrupt) {
    if (!intercepted(sig))
        return NEXT(sigint_fn, "siginterrupt")(sig, interrupt);
    struct sigaction act;
    memset(&act, 0, sizeof act);
    if (program_sigaction(sig, 0, &act) < 0)
        return -1;
    atomic_store(&interrupts[cg_crash_slot(sig)], interrupt != 0);
    if (interrupt)
        act.sa_flags &= ~SA_RESTART;
    else
        act.sa_flags |= SA_RESTART;
    return program_sigaction(sig, &act, 0) < 0 ? -1 : 0;
}
