//go:build ignore

/*
 * handler.c — the signal handler's entry: the story of a crash, from the kernel's call to
 * the process's death.  Read top to bottom:
 *
 *   1. a fault inside this handler: die of the original signal at once, no second report;
 *   2. a wrapper passing on its child's death (timeout, strace re-raise the child's signal
 *      on themselves) is said in one line, not reported (passon.c);
 *   3. one thread of the process claims the report; others that crash meanwhile wait, then
 *      die;
 *   4. on a static stack of our own: bring the tables up to date — modules loaded since,
 *      cache files a helper process wrote since, a helper started and waited for, bounded
 *      (late_tables.c) — and write the report (report.c), with raw system calls;
 *   5. put back the disposition that was there before us and let the signal kill the
 *      process exactly as it would have: same signal, same exit status, core dump kept.
 *      Only if that disposition is a handler that may recover do the other threads, parked
 *      since they answered (threads.c), go back to work.
 *
 * Everything here is async-signal-safe: no malloc, no locks, no stdio, no loader calls; and
 * no cancellation point: every system call is issued directly (sys.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>

#include "context.h"
#include "crashguard.h"
#include "describe.h"
#include "limits.h"
#include "minidump.h"
#include "onstack.h"
#include "out.h"
#include "passon.h"
#include "precompute.h"
#include "report.h"
#include "sinks.h"
#include "sys.h"
#include "threads.h"
#include "../sigaction_state.h"

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

/* The report's owner, (pid << 32) | tid, 0 while none; report_done holds the owner's value
 * once its report is written.  The pid is part of it because the memory may be another
 * process's too: a vfork() child runs on its parent's memory (its claim must not use up the
 * parent's one report), and a fork() child starts with a copy of a claim its parent made
 * (a report that will never finish in the child's copy). */
static _Atomic uint64_t report_owner, report_done;
static struct cg_out report_out;      /* static, as all the reporter's working areas */
static char report_copy[64 * 1024];   /* the journal's rendering: bounded to this size */
/* The report is written on this stack, not on the one the kernel gave the handler: that
 * may be an alternate stack the host installed, as small as MINSIGSTKSZ + 2 KiB, with the
 * host's memory below it.  The claim makes one thread at a time its user.  No guard page:
 * the report needs some 1.2 KB of it (docs/report.md gives the figures). */
#define REPORT_STACK_SIZE (32 * 1024)
static char report_stack[REPORT_STACK_SIZE] __attribute__((aligned(64)));

#define WAIT_FOR_REPORTER_MS 10000
#define WAIT_FOR_TABLES_MS 2000
/* glibc's cancellation and setxid signals (the kernel's 32 and 33). */
#define CG_SIGCANCEL 32
#define CG_SIGSETXID 33

static uint64_t owner_value(pid_t pid, pid_t tid) { return (uint64_t)(uint32_t)pid << 32 | (uint32_t)tid; }
static pid_t owner_pid(uint64_t owner) { return (pid_t)(owner >> 32); }

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
    int fd2 = cg_sys_fstat(2, &st) == 0;
    if (fd2 && same_file(&st, cg_config.report_dev, cg_config.report_ino))
        return 2;
    if (fd2) {
        int flags = cg_sys_fcntl(2, F_GETFL, 0);
        int log_file = S_ISREG(st.st_mode) && flags >= 0 &&
                       ((flags & O_ACCMODE) == O_WRONLY || (flags & O_APPEND));
        int null = S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
        if (log_file || S_ISFIFO(st.st_mode) || (S_ISCHR(st.st_mode) && !null))
            return 2;
    }
    int fd = cg_config.report_fd;
    struct stat ours;
    if (fd >= 0 && cg_sys_fstat(fd, &ours) == 0 && same_file(&ours, cg_config.report_dev, cg_config.report_ino))
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
    cg_sigset set = CG_SIGBIT(sig);
    cg_sys_sigprocmask(SIG_UNBLOCK, &set, 0);
}

static int is_default(const struct sigaction *sa) {
    return !(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL;
}

/* Step 5.  With the previous disposition SIG_DFL, unblocking the re-sent signal delivers it
 * before the mask call returns and the process dies here.  A process still alive after that
 * is a PID-namespace init, whose default-fatal signals the kernel drops: exit as the shell
 * would report the signal.  Returns 1 when the process may live on: the previous
 * disposition is a handler (which may recover) or an ignore of a signal that does not
 * come back by itself. */
static int die_as_before(int sig, siginfo_t *info) {
    /* Only the crash signals are ever handled here; anything else dies of the default. */
    struct sigaction previous = {.sa_handler = SIG_DFL};
    int slot = cg_crash_slot(sig);
    if (slot >= 0)
        cg_previous_action(slot, &previous); /* a copy that is never half-written */
    const struct sigaction *prev = &previous;
    cg_config.sigaction(sig, prev, 0);
    int ignored = !(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_IGN;
    if (refires_by_itself(sig, info))
        return !is_default(prev) && !ignored; /* the kernel forces the default on an ignored fault */
    pid_t pid = cg_sys_getpid(), tid = cg_sys_gettid();
    if (cg_sys_tgsigqueueinfo(pid, tid, sig, info) != 0)
        cg_sys_tgkill(pid, tid, sig);
    if (is_default(prev)) {
        unblock(sig);
        cg_sys_exit_group(128 + sig);
    }
    return 1;
}

/* Step 1.  The handler itself faulted (a corrupt table, a wild read we failed to check):
 * no second report and no loop — the original signal with its default action, now. */
static void die_of_original(int sig) {
    int original = cg_self.handling_sig ? cg_self.handling_sig : sig;
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    cg_config.sigaction(original, &dfl, 0);
    cg_config.sigaction(sig, &dfl, 0);
    cg_sys_tgkill(cg_sys_getpid(), cg_sys_gettid(), original);
    unblock(original);
    cg_sys_exit_group(128 + original);
}

/* Step 3, for the losers: the reporter kills the process when it is done; if it never is
 * (it hangs, or its signal was handled by a previous handler and the process lives on),
 * give up waiting and die of our own signal. */
static void wait_for_reporter(void) {
    for (int waited = 0; waited < WAIT_FOR_REPORTER_MS &&
                         atomic_load(&report_done) != atomic_load(&report_owner);
         waited += 10)
        cg_sys_sleep_ms(10);
}

enum claim {
    CLAIM_WON,
    CLAIM_TAKEN,           /* by a thread of this process: its report is the process's */
    CLAIM_TAKEN_ELSEWHERE, /* by a process sharing our memory (vfork), reporting now */
};

/* Step 3.  A claim made by another process is void once that report is finished, and
 * void from the start when that process does not share our memory (then this memory is a
 * fork() child's copy).  When the kernel will not say (no kcmp), it is taken for a copy:
 * fork() children outnumber vfork() children crashing during their parent's report. */
static enum claim claim_report(pid_t pid, pid_t tid) {
    uint64_t mine = owner_value(pid, tid);
    for (;;) {
        uint64_t held = atomic_load(&report_owner);
        if (held && owner_pid(held) == pid)
            return CLAIM_TAKEN;
        if (held && atomic_load(&report_done) != held && cg_sys_kcmp_vm(pid, owner_pid(held)) == 0)
            return CLAIM_TAKEN_ELSEWHERE;
        if (atomic_compare_exchange_strong(&report_owner, &held, mine))
            return CLAIM_WON;
    }
}

struct crash {
    int sig;
    siginfo_t *info;
    void *ucontext;
    pid_t tid;
};

/* How a destination sees the report (docs/security.md).  A privileged process's registers
 * and raw addresses (its memory layout, what ASLR hides from its caller) go only where the
 * caller cannot read: restricted is set for every other destination. */
static struct cg_report_view view_of(int restricted, size_t cap, int hard) {
    struct cg_report_view v = {
        .cap = cap,
        .hard = hard,
        .registers = !restricted && !cg_report_setup.redact_registers,
        .addresses = !restricted && !cg_report_setup.redact_addresses,
        .why = restricted ? "privileged process, setuid or not dumpable: the full report goes only to "
                            "root-owned destinations, the journal or a file in a root-owned directory"
                          : "CRASHGUARD_REDACT",
    };
    return v;
}

static int same_view(const struct cg_report_view *a, const struct cg_report_view *b) {
    return a->cap == b->cap && a->hard == b->hard && a->registers == b->registers && a->addresses == b->addresses;
}

/* What a view leaves out, for the journal entry's CRASHGUARD_REDACTED. */
static const char *redacted_words(const struct cg_report_view *v) {
    return !v->registers && !v->addresses ? "registers,addresses" : !v->registers ? "registers"
                                                                  : !v->addresses ? "addresses"
                                                                                  : 0;
}

/* A text report on stderr starts on a line of its own, after whatever the program was
 * writing; a file or a journal entry starts with the report. */
static void compose_to(int fd, int fd2, const struct cg_report_view *v, int stderr_fd) {
    if (stderr_fd >= 0 && !cg_config.json) {
        out_init(&report_out);
        out_add_fd(&report_out, stderr_fd);
        out_char(&report_out, '\n');
        out_flush(&report_out);
    }
    out_init(&report_out);
    out_add_fd(&report_out, fd);
    out_add_fd(&report_out, fd2);
    report_compose(&report_out, v);
}

/* Step 4, for a crash over the storm limit: one line that counts it, on stderr and in the
 * journal as configured; no report file, no minidump (limits.c). */
static void write_the_line(int sig, uint32_t repeat) {
    int journal = cg_config.journal_socket[0] != 0;
    /* stderr when configured, and when the journal, the only other place, did not take it. */
    int sent = journal && send_to_journal(sig, 0, 0, 0, repeat);
    int fd = cg_config.to_stderr || !sent ? report_fd() : -1;
    if (fd >= 0) {
        out_init(&report_out);
        out_add_fd(&report_out, fd);
        out_storm_line(&report_out, sig, repeat);
        out_flush(&report_out);
    }
}

/* Step 4, on report_stack. */
static void write_the_report(void *arg) {
    const struct crash *c = arg;
    cg_tables_at_crash(WAIT_FOR_TABLES_MS);
    cg_executable_path(); /* before anything prints it (the report file's name may) */
    report_prepare(c->sig, c->info, c->ucontext, c->tid);
    uint32_t repeat = cg_storm_count(last_report_signature());
    if (repeat) {
        write_the_line(c->sig, repeat);
        return;
    }
    int privileged = report_privileged();
    int file_fd = open_report_file();
    int journal = cg_config.journal_socket[0] != 0;
    /* stderr when configured, and whenever no other destination is there: a report
     * must not be lost to a missing directory or a journal that is not running. */
    int err_fd = cg_config.to_stderr || !(file_fd >= 0 || journal) ? report_fd() : -1;
    size_t err_cap = cg_report_setup.stderr_limit ? cg_report_setup.stderr_limit : CG_UNBOUNDED;
    struct cg_report_view err_view = view_of(privileged, err_cap, 0);
    struct cg_report_view file_view = view_of(privileged && !report_file_root_owned(), CG_UNBOUNDED, 0);
    if (err_fd >= 0 && file_fd >= 0 && same_view(&err_view, &file_view)) {
        compose_to(err_fd, file_fd, &err_view, err_fd);
    } else {
        if (err_fd >= 0)
            compose_to(err_fd, -1, &err_view, err_fd);
        if (file_fd >= 0)
            compose_to(file_fd, -1, &file_view, -1);
    }
    if (file_fd >= 0)
        cg_sys_close(file_fd);
    int journal_root = journal && journal_root_owned();
    if (journal && (journal_root || !cg_config.journal_root_only)) {
        /* The journal takes one datagram: its rendering is bounded, frames included. */
        struct cg_report_view journal_view = view_of(privileged && !journal_root, sizeof report_copy, 1);
        out_init(&report_out);
        out_capture(&report_out, report_copy, sizeof report_copy);
        report_compose(&report_out, &journal_view);
        int fd = report_fd();
        if (!send_to_journal(c->sig, report_copy, report_out.captured, redacted_words(&journal_view), 0) && fd >= 0 &&
            !cg_config.journal_root_only) {
            /* On stderr, why the journal did not take it; and the report itself when the
             * journal was its only destination. */
            out_init(&report_out);
            out_add_fd(&report_out, fd);
            out_journal_failure(&report_out);
            out_flush(&report_out);
            if (err_fd < 0 && file_fd < 0)
                compose_to(fd, -1, &err_view, fd);
        }
    }
    /* Last, once every report is out: a minidump can never cost the report, and the
     * oldest files make room only once the new ones exist. */
    const char *minidump = cg_write_minidump(c->sig, c->info, c->ucontext, c->tid);
    cg_enforce_retention(report_file_created(), minidump);
}

/* Step 2: one line where a report would go on stderr (in the text format only: a JSON
 * stream holds reports).  A file or journal entry is not made for it. */
static __attribute__((noinline)) void say_passed_on(int sig, const siginfo_t *info, pid_t pid) {
    int elsewhere = cg_config.report_file_pattern[0] || cg_config.journal_socket[0];
    if (cg_config.json || (!cg_config.to_stderr && elsewhere))
        return;
    int fd = report_fd();
    if (fd < 0)
        return;
    char digits[24];
    size_t first = cg_format_udec(digits, (uint64_t)pid);
    const char *name = signal_name(sig), *exe = cg_executable_path();
    const char *how = info->si_code == SI_USER ? "kill()" : "raise()/tgkill()";
#define PIECE(s, n) {(void *)(s), (n)}
#define TEXT(s) PIECE(s, sizeof s - 1)
    struct iovec line[] = {
        TEXT("*** crashguard: "), PIECE(name, cg_strlen(name)),
        TEXT(" sent by the process to itself with "), PIECE(how, cg_strlen(how)),
        TEXT(" after a child of it ended (a wrapper passing on its child's death?): not a crash "
             "of its own code, no report (pid "),
        PIECE(digits + first, sizeof digits - first), TEXT(", "), PIECE(exe, cg_strlen(exe)),
        TEXT(")\n"),
    };
#undef TEXT
#undef PIECE
    /* Shorter than PIPE_BUF: once the descriptor has room, one write takes it whole. */
    struct pollfd room = {.fd = fd, .events = POLLOUT, .revents = 0};
    if (cg_sys_poll(&room, 1, 1000) == 1 && !(room.revents & (POLLERR | POLLHUP | POLLNVAL)))
        cg_sys_writev(fd, line, (int)(sizeof line / sizeof line[0]));
}

void cg_signal_handler(int sig, siginfo_t *info, void *ucontext) {
    int saved_errno = errno;

    /* A PID-namespace init never dies of a signal another process sends with the default
     * action; had we not been here, the kernel would have dropped it. */
    pid_t pid = cg_sys_getpid();
    if (pid == 1 && info->si_code <= 0 && info->si_pid != 1) {
        errno = saved_errno;
        return;
    }

    /* 1. The guard holds the tid, not a flag: a vfork() child runs on its parent thread's
     *    TLS, and the mark of a child that crashed there must not read as the parent being
     *    inside the handler. */
    pid_t tid = cg_sys_gettid();
    if (cg_self.in_handler == tid)
        die_of_original(sig);
    cg_self.in_handler = tid;
    cg_self.handling_sig = sig;
    /* From here a fault is a bug of ours (or a table pulled from under us): let it come
     * back into this handler, which dies of the original signal at once, rather than be
     * forced through with its own default action by the kernel (our mask blocks it).
     * glibc's cancellation signal is blocked: with asynchronous cancellation it would
     * unwind the thread out of the handler.  The kernel restores the mask on return. */
    cg_sigset faults = CG_SIGBIT(SIGSEGV) | CG_SIGBIT(SIGBUS) | CG_SIGBIT(SIGILL) | CG_SIGBIT(SIGFPE);
    cg_sigset cancel = CG_SIGBIT(CG_SIGCANCEL);
    cg_sys_sigprocmask(SIG_UNBLOCK, &faults, 0);
    cg_sys_sigprocmask(SIG_BLOCK, &cancel, 0);

    if (is_passed_on_death(sig, info, ucontext, pid)) {
        say_passed_on(sig, info, pid);
    } else {
        enum claim claim = claim_report(pid, tid);
        if (claim == CLAIM_TAKEN_ELSEWHERE) {
            wait_for_reporter(); /* the other process's report, then this one's */
            claim = claim_report(pid, tid);
        }
        if (claim == CLAIM_WON) {
            /* Off the alternate stack, the kernel delivers a signal with SA_ONSTACK at its
             * top again, over this handler's frame and the siginfo and ucontext the report
             * reads.  Our mask blocks all signals but the faults (a fault in the report
             * ends in die_of_original, which never returns there) and glibc's two own:
             * block the other one too, the setxid signal, whose handler runs on the
             * alternate stack (another thread's setuid() waits until the report is done). */
            cg_sigset setxid = CG_SIGBIT(CG_SIGSETXID);
            cg_sys_sigprocmask(SIG_BLOCK, &setxid, 0);
            struct crash c = {sig, info, ucontext, tid};
            cg_call_on_stack(write_the_report, &c, report_stack + sizeof report_stack);
            atomic_store(&report_done, owner_value(pid, tid));
        } else {
            wait_for_reporter();
        }
    }

    /* Living on after a report takes a race now: a handler that was there before ours stays
     * in charge (constructor.c), so ours reports only where the program wants the default —
     * unless the program installs a handler while another thread's crash is reported. */
    if (die_as_before(sig, info))
        release_asked_threads();
    cg_self.in_handler = 0;
    cg_self.handling_sig = 0;
    errno = saved_errno;
}
