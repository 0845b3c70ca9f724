//go:build ignore

/*
 * threads.c — all threads' backtraces, in-process.  The reporting thread lists the
 * process's threads in /proc/self/task, installs a handler for one real-time signal
 * (CG_DUMP_SIGNAL), and sends it to each thread that does not block it, marked as ours
 * (rt_tgsigqueueinfo with a value only we send); each thread unwinds itself from its own
 * ucontext into a preallocated slot.  The reporter waits at most DUMP_WAIT_MS: a thread that
 * never answers cannot hang the report.  Threads that block the signal (a host's
 * signal-consuming ones) are counted, not asked.
 *
 * An asked thread must not go back to the host's code while the process is dying: its
 * sleep, poll or pause would return early (EINTR) and the host might act on that — exit(0)
 * from main while the report is being written turns a crash into a clean exit.  So it parks
 * (a futex wait) after answering, and dies with the process.  Only when the process is to
 * live on (a handler that was there before ours recovers from the fault) does the handler
 * call release_asked_threads(): the threads return, and the host's disposition of the
 * signal is put back once no request of ours can still arrive.  Until then, and on the
 * fatal path for good, our handler stays installed: a request still pending at a thread
 * that could not take it in time (a thread in vfork(), in uninterruptible I/O) arrives at
 * our handler, never at the host's default action, which would kill the process with the
 * wrong signal.
 */
#include "threads.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>

#include "crashguard.h"
#include "memread.h"
#include "out.h"
#include "sys.h"

#define DUMP_WAIT_MS 300
#define CG_DUMP_SIGNAL (SIGRTMAX - 1)
/* glibc's cancellation signal (SIGRTMIN-2 in the kernel's numbering). */
#define CG_SIGCANCEL 32

static struct cg_thread_snapshot slots[CG_MAX_OTHER_THREADS];
static _Atomic int done[CG_MAX_OTHER_THREADS];
/* Each slot's reader: static, not on the stack of the asked thread, which may be running
 * on a small alternate stack of the host's. */
static struct cg_reader readers[CG_MAX_OTHER_THREADS];
static _Atomic int nslots; /* slots[i] is filled before nslots covers it */

/* Where the collection is; also the word parked threads wait on. */
enum {
    DUMP_IDLE,       /* no request sent */
    DUMP_COLLECTING, /* requests sent: answers go into the slots */
    DUMP_CLOSED,     /* the reporter stopped waiting: late answers only park */
    DUMP_RELEASED,   /* the process lives on: nobody parks any more */
};
static _Atomic int dump_phase;
/* The process that sent the requests: a fork() or vfork() child inherits our handler (and
 * a vfork child our memory) but none of this is about it. */
static _Atomic pid_t dump_pid;
/* Requests sent and not yet taken: the host's disposition goes back only at 0. */
static _Atomic int outstanding;
/* The host's disposition of CG_DUMP_SIGNAL, saved when ours went in. */
static struct sigaction host_action;
/* Our requests carry this object's address as their value: no host sends that. */
static const char request_cookie;
/* Set when the kernel refused rt_tgsigqueueinfo: requests go by tgkill, and then any
 * tgkill from this process counts as ours. */
static _Atomic int requests_by_tgkill;

static int is_our_request(const siginfo_t *info, pid_t pid) {
    if (info->si_pid != pid)
        return 0;
    if (info->si_code == SI_QUEUE && info->si_value.sival_ptr == (void *)&request_cookie)
        return 1;
    return info->si_code == SI_TKILL && atomic_load(&requests_by_tgkill);
}

static int is_dump_self(const struct sigaction *sa);

/* The host's disposition back in the kernel, unless the host installed another meanwhile. */
static void restore_host_action(void) {
    struct sigaction now;
    if (cg_config.sigaction(CG_DUMP_SIGNAL, 0, &now) == 0 && is_dump_self(&now))
        cg_config.sigaction(CG_DUMP_SIGNAL, &host_action, 0);
}

/* A signal that is not ours, once the process lives on (or in a child that inherited our
 * handler): what the host's disposition would have done with it.  The host's handler runs
 * with our (full) mask. */
static void pass_to_host(int sig, siginfo_t *info, void *ucontext) {
    if (host_action.sa_flags & SA_SIGINFO) {
        if (host_action.sa_sigaction)
            host_action.sa_sigaction(sig, info, ucontext);
    } else if (host_action.sa_handler == SIG_DFL) {
        /* Terminate, as the host asked: its disposition back, and the signal again (it
         * arrives when this handler returns). */
        cg_config.sigaction(sig, &host_action, 0);
        pid_t pid = cg_sys_getpid(), tid = cg_sys_gettid();
        if (cg_sys_tgsigqueueinfo(pid, tid, sig, info) != 0)
            cg_sys_tgkill(pid, tid, sig);
    } else if (host_action.sa_handler != SIG_IGN) {
        host_action.sa_handler(sig);
    }
}

/* Unwinds the calling thread into its slot, if it has one not yet filled. */
static void answer(pid_t tid, void *ucontext) {
    for (int i = 0, n = atomic_load(&nslots); i < n; i++) {
        if (slots[i].tid != tid || atomic_load(&done[i]))
            continue;
        struct cg_regs regs;
        regs_from_context(ucontext, &regs);
        reader_init(&readers[i]);
        uintptr_t lo = cg_self.stack_lo, hi = cg_self.stack_hi;
        if (!hi && tid == cg_config.main_tid)
            lo = cg_config.main_stack_lo, hi = cg_config.main_stack_hi;
        unwind_stack(&regs, lo, hi, &readers[i], &slots[i].stack);
        capture_thread_context(ucontext, &slots[i].context); /* the same answer, for the minidump */
        atomic_store(&done[i], 1);
        return;
    }
}

/* While requests are being collected a parked thread looks at its slot now and then: one
 * parked by a host's signal before its slot existed still answers (from that signal's
 * ucontext, as good as ours: our request stays blocked behind it). */
static void park_until_released(pid_t tid, void *ucontext) {
    static const struct timespec five_ms = {0, 5 * 1000 * 1000};
    for (;;) {
        int phase = atomic_load(&dump_phase);
        if (phase == DUMP_RELEASED)
            return;
        if (phase == DUMP_COLLECTING)
            answer(tid, ucontext);
        /* EINTR (glibc's setxid signal), EAGAIN, a timeout: look again. */
        cg_sys_futex_wait(&dump_phase, phase, phase == DUMP_COLLECTING ? &five_ms : 0);
    }
}

static void dump_self(int sig, siginfo_t *info, void *ucontext) {
    int saved_errno = errno;
    /* Block glibc's cancellation signal: a thread with asynchronous cancellation would be
     * unwound from here into its cleanup handlers.  The mask is the kernel's to restore
     * when this handler returns. */
    cg_sigset cancel = CG_SIGBIT(CG_SIGCANCEL);
    cg_sys_sigprocmask(SIG_BLOCK, &cancel, 0);

    pid_t pid = cg_sys_getpid();
    int ours = is_our_request(info, pid);
    if (pid != atomic_load(&dump_pid)) {
        /* A child of a process that was reporting: our handler came with fork(). */
        if (!ours)
            pass_to_host(sig, info, ucontext);
    } else if (atomic_load(&dump_phase) == DUMP_RELEASED) {
        /* The process lives on: a late request of ours, or the host's own signal. */
        if (!ours)
            pass_to_host(sig, info, ucontext);
        else if (atomic_fetch_sub(&outstanding, 1) == 1)
            restore_host_action();
    } else {
        pid_t tid = cg_sys_gettid();
        if (ours)
            atomic_fetch_sub(&outstanding, 1);
        park_until_released(tid, ucontext);
        /* Released: the process lives on.  The host's own signal, held back while the
         * report was written, goes to this thread again, with its siginfo; it arrives when
         * this handler returns, at the host's disposition if that is back by then. */
        if (!ours && cg_sys_tgsigqueueinfo(pid, tid, sig, info) != 0)
            cg_sys_tgkill(pid, tid, sig);
    }
    errno = saved_errno;
}

static int is_dump_self(const struct sigaction *sa) {
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == dump_self;
}

void capture_thread_context(const void *ucontext, struct cg_thread_context *out) {
    const ucontext_t *uc = ucontext;
    __builtin_memcpy(out->gregs, uc->uc_mcontext.gregs, sizeof out->gregs);
    /* The FXSAVE image the kernel wrote into this very signal frame (NULL when the thread
     * had not used the FPU): 512 bytes in the minidump's own layout (MDXmmSaveArea32AMD64). */
    out->has_fp = uc->uc_mcontext.fpregs != 0;
    if (out->has_fp)
        __builtin_memcpy(out->fpstate, uc->uc_mcontext.fpregs, sizeof out->fpstate);
    out->stack_lo = cg_self.stack_lo;
    out->stack_hi = cg_self.stack_hi;
    if (!out->stack_hi && cg_sys_gettid() == cg_config.main_tid) {
        out->stack_lo = cg_config.main_stack_lo;
        out->stack_hi = cg_config.main_stack_hi;
    }
}

int collected_threads(const struct cg_thread_snapshot **snapshots) {
    *snapshots = slots;
    if (atomic_load(&dump_phase) == DUMP_IDLE || atomic_load(&dump_pid) != cg_sys_getpid())
        return 0;
    return atomic_load(&nslots);
}

void release_asked_threads(void) {
    if (atomic_load(&dump_phase) == DUMP_IDLE || atomic_load(&dump_pid) != cg_sys_getpid())
        return;
    atomic_store(&dump_phase, DUMP_RELEASED);
    /* A request still pending somewhere keeps our handler in: it will take that request
     * and put the host's disposition back itself (dump_self). */
    if (atomic_load(&outstanding) <= 0)
        restore_host_action();
    cg_sys_futex_wake_all(&dump_phase);
}

static pid_t parse_tid(const char *s) {
    pid_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Enough for a Groups: line of 65,536 groups before SigBlk. */
#define STATUS_READ_MAX (1 << 20)

/* Whether tid blocks sig, from the SigBlk line of /proc/self/task/<tid>/status.  The file
 * is read in chunks up to that line, however far down it is: a long Groups: line before it
 * would push it out of any fixed buffer (and every thread would then count as blocking). */
static int blocks(pid_t tid, int sig) {
    static char chunk[4096];
    char path[64] = "/proc/self/task/";
    size_t n = cg_strlen(path);
    char digits[12];
    int d = 0;
    for (unsigned v = (unsigned)tid; v || !d; v /= 10)
        digits[d++] = (char)('0' + v % 10);
    while (d)
        path[n++] = digits[--d];
    const char *tail = "/status";
    while (*tail)
        path[n++] = *tail++;
    path[n] = 0;
    int fd = cg_sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    static const char key[] = "\nSigBlk:";
    size_t matched = 1; /* the file's start counts as a line start */
    int in_value = 0, ndigits = 0, complete = 0;
    uint64_t mask = 0;
    for (long total = 0; !complete && total < STATUS_READ_MAX;) {
        long got = cg_sys_read(fd, chunk, sizeof chunk);
        if (got == -EINTR)
            continue;
        if (got <= 0)
            break;
        total += got;
        for (long i = 0; i < got && !complete; i++) {
            char c = chunk[i];
            if (in_value) {
                int v = hex_value(c);
                if (v >= 0) {
                    mask = mask * 16 + (uint64_t)v;
                    ndigits++;
                } else if (ndigits || (c != ' ' && c != '\t')) {
                    complete = 1;
                }
            } else if (c == key[matched]) {
                in_value = ++matched == sizeof key - 1;
            } else {
                matched = c == '\n';
            }
        }
    }
    cg_sys_close(fd);
    if (!ndigits)
        return 1; /* no SigBlk line: as if it blocked (not asked) */
    return (int)((mask >> (sig - 1)) & 1);
}


static int send_request(pid_t pid, pid_t tid) {
    if (!atomic_load(&requests_by_tgkill)) {
        siginfo_t req = {0};
        req.si_signo = CG_DUMP_SIGNAL;
        req.si_code = SI_QUEUE;
        req.si_pid = pid;
        req.si_uid = cg_sys_getuid();
        req.si_value.sival_ptr = (void *)&request_cookie;
        int rc = cg_sys_tgsigqueueinfo(pid, tid, CG_DUMP_SIGNAL, &req);
        if (rc != -EPERM && rc != -ENOSYS)
            return rc == 0;
        atomic_store(&requests_by_tgkill, 1);
    }
    return cg_sys_tgkill(pid, tid, CG_DUMP_SIGNAL) == 0;
}

int collect_other_threads(pid_t self, const struct cg_thread_snapshot **snapshots, int *blocked) {
    static char dents[4096];
    int total = 0;
    *blocked = 0;
    nslots = 0;
    *snapshots = slots;
    pid_t pid = cg_sys_getpid();
    int dir = cg_sys_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return -1;
    /* A fork() child reporting has a copy of this state from its parent: start afresh. */
    atomic_store(&dump_pid, pid);
    atomic_store(&dump_phase, DUMP_COLLECTING);
    atomic_store(&outstanding, 0);
    struct sigaction ours = {0}, before;
    ours.sa_sigaction = dump_self;
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigfillset(&ours.sa_mask);
    if (cg_config.sigaction(CG_DUMP_SIGNAL, &ours, &before) != 0) {
        atomic_store(&dump_phase, DUMP_IDLE);
        cg_sys_close(dir);
        return -1;
    }
    /* Ours already (a fork() child of a process that reported): the host's disposition is
     * the one saved then, in this copy of our memory. */
    if (!is_dump_self(&before))
        host_action = before;
    for (;;) {
        long got = cg_sys_getdents64(dir, dents, sizeof dents);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            struct dirent64 *e = (struct dirent64 *)(dents + off);
            off += e->d_reclen;
            pid_t tid = parse_tid(e->d_name);
            if (!tid || tid == self)
                continue;
            total++;
            if (blocks(tid, CG_DUMP_SIGNAL)) {
                (*blocked)++;
                continue;
            }
            if (nslots == CG_MAX_OTHER_THREADS)
                continue;
            slots[nslots].tid = tid;
            slots[nslots].answered = 0;
            atomic_store(&done[nslots], 0);
            nslots++;
        }
    }
    cg_sys_close(dir);
    for (int i = 0; i < nslots; i++) {
        /* Counted before it is sent: the answer may come before the count otherwise. */
        atomic_fetch_add(&outstanding, 1);
        if (!send_request(pid, slots[i].tid))
            atomic_fetch_sub(&outstanding, 1); /* gone meanwhile */
    }
    for (int waited = 0; waited < DUMP_WAIT_MS; waited += 2) {
        int all = 1;
        for (int i = 0; i < nslots && all; i++)
            all = atomic_load(&done[i]);
        if (all)
            break;
        cg_sys_sleep_ms(2);
    }
    atomic_store(&dump_phase, DUMP_CLOSED);
    for (int i = 0; i < nslots; i++)
        slots[i].answered = atomic_load(&done[i]);
    return total;
}
