//go:build ignore

/*
 * sigaction_interpose.c — the program keeps its view of its crash-signal dispositions, and
 * a program that gives a crash signal back to the default still gets our report.
 *
 * sigaction() and signal() are interposed for the crash signals our handler holds:
 *   - a query returns what the program (or its parent) set, not our handler, so nothing the
 *     program inspects changed;
 *   - a program installing a handler of its own gets it, as without us: ours is off the
 *     path until the program gives the signal back;
 *   - a program setting SIG_DFL (faulthandler, absl, many C programs do so when their own
 *     handler gives up, then re-raise) is recorded as wanting the default, and our handler
 *     stays installed in its place: the re-raised signal reaches us, we report, and die of
 *     it with the default action — the death the program asked for.
 * glibc's internal calls (abort's) do not come through here.  Load-time code: the handler
 * calls the real sigaction through cg_config.sigaction.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "interpose.h"
#include "sigsafe/crashguard.h"

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static _Atomic(sigaction_fn) real_sigaction;

int cg_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    sigaction_fn fn = atomic_load(&real_sigaction);
    if (!fn) {
        fn = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
        if (!fn) {
            errno = ENOSYS;
            return -1;
        }
        atomic_store(&real_sigaction, fn);
    }
    return fn(sig, act, old);
}

void cg_hold_signal(int sig, const struct sigaction *ours) {
    int slot = cg_crash_slot(sig);
    if (slot >= 0) {
        cg_crash_dispositions[slot].ours = *ours;
        cg_crash_dispositions[slot].held = 1;
    }
}

static int is_default(const struct sigaction *act) {
    return !(act->sa_flags & SA_SIGINFO) && act->sa_handler == SIG_DFL;
}

/* sigaction as the program sees it. */
static int program_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    int slot = cg_crash_slot(sig);
    if (slot < 0)
        return cg_real_sigaction(sig, act, old);
    struct cg_crash_disposition *d = &cg_crash_dispositions[slot];
    /* Ours: held now, or once held and the program now gives the signal back. */
    int ever_held = d->ours.sa_sigaction != 0;
    if (!d->held && !(ever_held && act && is_default(act)))
        return cg_real_sigaction(sig, act, old);
    struct sigaction believed = d->prev;
    if (act && is_default(act)) {
        /* Back to the default: we stand in for it (see the top of this file). */
        if (cg_real_sigaction(sig, &d->ours, 0) != 0)
            return -1;
        d->prev = *act;
        d->held = 1;
    } else if (act) {
        if (cg_real_sigaction(sig, act, 0) != 0)
            return -1;
        d->prev = *act;
        d->held = 0; /* the program's own handler is in the kernel now */
    }
    if (old)
        *old = believed;
    return 0;
}

__attribute__((visibility("default"))) int sigaction(int sig, const struct sigaction *act,
                                                     struct sigaction *old) {
    return program_sigaction(sig, act, old);
}

__attribute__((visibility("default"))) sighandler_t signal(int sig, sighandler_t handler) {
    /* glibc's signal(): BSD semantics, the signal itself blocked while its handler runs. */
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    if (sig > 0 && sig < CG_NSIG)
        sigaddset(&act.sa_mask, sig);
    act.sa_flags = SA_RESTART;
    if (program_sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}
