//go:build ignore

/*
 * handler.c — the signal handler's entry: the story of a crash, from the kernel's call to
 * the process's death.  Read top to bottom:
 *
 *   1. a fault inside this handler: die of the original signal at once, no second report;
 *   2. one thread claims the report; others that crash meanwhile wait, then die;
 *   3. bring the tables up to date: modules loaded since, cache files written since by the
 *      helper process, which we start if none is at work and wait for, bounded
 *      (late_tables.c);
 *   4. write the report (report.c) to our descriptor with raw write();
 *   5. put back the disposition that was there before us and let the signal kill the
 *      process exactly as it would have: same signal, same exit status, core dump kept.
 *
 * Everything here is async-signal-safe: no malloc, no locks, no stdio, no loader calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "crashguard.h"
#include "out.h"
#include "precompute.h"
#include "report.h"
#include "sinks.h"

struct cg_config cg_config = {.report_fd = -1, .max_frames = 100};
const int cg_crash_signals[CG_NCRASH] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
const int cg_crash_signal_count = CG_NCRASH;
struct cg_crash_disposition cg_crash_dispositions[CG_NCRASH];

int cg_crash_slot(int sig) {
    for (int i = 0; i < CG_NCRASH; i++)
        if (cg_crash_signals[i] == sig)
            return i;
    return -1;
}
__thread struct cg_thread cg_self;

static _Atomic pid_t reporter_tid;    /* the thread writing the report; 0 while none */
static _Atomic int report_finished;
static struct cg_out report_out;      /* static: the alternate stack may be small */
static char report_copy[64 * 1024];   /* the whole report, for the journal */

#define WAIT_FOR_REPORTER_MS 10000
#define WAIT_FOR_TABLES_MS 2000

static pid_t current_tid(void) { return (pid_t)syscall(SYS_gettid); }

static int same_file(const struct stat *st, uint64_t dev, uint64_t ino) {
    return (uint64_t)st->st_dev == dev && (uint64_t)st->st_ino == ino;
}

/* Where the report goes.  fd 2 as the host has it now when it is still the stderr we saw
 * at load, or when the host pointed it somewhere a person reads on purpose — a terminal,
 * a pipe, a log file opened for writing only or appending.  Otherwise (fd 2 closed, or
 * reused for a socket or a data file opened read-write, where a report would corrupt the
 * host's data) the close-on-exec duplicate of stderr made at load, if it is still ours;
 * failing both, /dev/null or nothing. */
static int report_fd(void) {
    struct stat st;
    int fd2 = fstat(2, &st) == 0;
    if (fd2 && same_file(&st, cg_config.report_dev, cg_config.report_ino))
        return 2;
    if (fd2) {
        int flags = fcntl(2, F_GETFL);
        int log_file = S_ISREG(st.st_mode) && flags >= 0 &&
                       ((flags & O_ACCMODE) == O_WRONLY || (flags & O_APPEND));
        int null = S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
        if (log_file || S_ISFIFO(st.st_mode) || (S_ISCHR(st.st_mode) && !null))
            return 2;
    }
    int fd = cg_config.report_fd;
    struct stat ours;
    if (fd >= 0 && fstat(fd, &ours) == 0 && same_file(&ours, cg_config.report_dev, cg_config.report_ino))
        return fd;
    return -1;
}

/* Hardware faults re-fault when the handler returns, now meeting the restored disposition
 * with the kernel's own siginfo.  Signals sent by software, traps (the pc is already past
 * int3) and seccomp's SIGSYS (the system call was skipped) do not come back by themselves. */
static int refires_by_itself(int sig, const siginfo_t *info) {
    if (info->si_code <= 0 || info->si_code == SI_KERNEL)
        return 0;
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}

static void unblock(int sig) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, 0);
}

/* Step 5.  With the previous disposition SIG_DFL, unblocking the re-sent signal delivers it
 * before sigprocmask returns and the process dies here.  A process still alive after that
 * is a PID-namespace init, whose default-fatal signals the kernel drops: exit as the shell
 * would report the signal. */
static void die_as_before(int sig, siginfo_t *info) {
    /* Only the crash signals are ever handled here; anything else dies of the default. */
    static const struct sigaction default_action = {.sa_handler = SIG_DFL};
    int slot = cg_crash_slot(sig);
    const struct sigaction *prev = slot >= 0 ? &cg_crash_dispositions[slot].prev : &default_action;
    cg_config.sigaction(sig, prev, 0);
    if (refires_by_itself(sig, info))
        return;
    pid_t pid = getpid(), tid = current_tid();
    if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, info) != 0)
        syscall(SYS_tgkill, pid, tid, sig);
    if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_DFL) {
        unblock(sig);
        _exit(128 + sig);
    }
}

/* Step 1.  The handler itself faulted (a corrupt table, a wild read we failed to check):
 * no second report and no loop — the original signal with its default action, now. */
static void die_of_original(int sig) {
    int original = cg_self.handling_sig ? cg_self.handling_sig : sig;
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    cg_config.sigaction(original, &dfl, 0);
    cg_config.sigaction(sig, &dfl, 0);
    syscall(SYS_tgkill, getpid(), current_tid(), original);
    unblock(original);
    _exit(128 + original);
}

/* Step 2, for the losers: the reporter kills the process when it is done; if it never is
 * (it hangs, or its signal was handled by a previous handler and the process lives on),
 * give up waiting and die of our own signal. */
static void wait_for_reporter(void) {
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    for (int waited = 0; waited < WAIT_FOR_REPORTER_MS && !atomic_load(&report_finished);
         waited += 10)
        nanosleep(&ten_ms, 0);
}

void cg_signal_handler(int sig, siginfo_t *info, void *ucontext) {
    int saved_errno = errno;

    /* A PID-namespace init never dies of a signal another process sends with the default
     * action; had we not been here, the kernel would have dropped it. */
    if (getpid() == 1 && info->si_code <= 0 && info->si_pid != 1) {
        errno = saved_errno;
        return;
    }

    if (cg_self.in_handler)
        die_of_original(sig);
    cg_self.in_handler = 1;
    cg_self.handling_sig = sig;
    /* From here a fault is a bug of ours (or a table pulled from under us): let it come
     * back into this handler, which dies of the original signal at once, rather than be
     * forced through with its own default action by the kernel (our mask blocks it). */
    sigset_t faults;
    sigemptyset(&faults);
    sigaddset(&faults, SIGSEGV);
    sigaddset(&faults, SIGBUS);
    sigaddset(&faults, SIGILL);
    sigaddset(&faults, SIGFPE);
    sigprocmask(SIG_UNBLOCK, &faults, 0);

    pid_t tid = current_tid(), none = 0;
    if (atomic_compare_exchange_strong(&reporter_tid, &none, tid)) {
        cg_tables_at_crash(WAIT_FOR_TABLES_MS);
        out_init(&report_out);
        cg_executable_path(); /* before anything prints it (the report file's name may) */
        int file_fd = open_report_file();
        out_add_fd(&report_out, file_fd);
        if (cg_config.journal_socket[0])
            out_capture(&report_out, report_copy, sizeof report_copy);
        /* stderr when configured, and whenever no other destination is there: a report
         * must not be lost to a missing directory or a journal that is not running. */
        int elsewhere = file_fd >= 0 || cg_config.journal_socket[0];
        if (cg_config.to_stderr || !elsewhere)
            out_add_fd(&report_out, report_fd());
        write_report(&report_out, sig, info, ucontext, tid);
        if (file_fd >= 0)
            close(file_fd);
        if (cg_config.journal_socket[0] && !send_to_journal(sig, report_copy, report_out.captured)) {
            /* On stderr, why the journal did not take it; and the report itself when the
             * journal was its only destination. */
            size_t len = report_out.captured;
            out_init(&report_out);
            out_add_fd(&report_out, report_fd());
            out_journal_failure(&report_out);
            if (!cg_config.to_stderr && file_fd < 0)
                out_strn(&report_out, report_copy, len);
            out_flush(&report_out);
        }
        atomic_store(&report_finished, 1);
    } else {
        wait_for_reporter();
    }

    die_as_before(sig, info);
    cg_self.in_handler = 0;
    cg_self.handling_sig = 0;
    errno = saved_errno;
}
