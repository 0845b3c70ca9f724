//go:build ignore

/*
 * threads.c — all threads' backtraces, in-process.  The reporting thread lists the
 * process's threads in /proc/self/task, installs a handler for one real-time signal
 * (CG_DUMP_SIGNAL) for the duration, and sends it with tgkill to each thread that does not
 * block it; each thread unwinds itself from its own ucontext into a preallocated slot.  The
 * reporter waits at most DUMP_WAIT_MS: a thread that never answers cannot hang the report.
 * The host's disposition of the signal is put back afterwards.  The Go runtime's own
 * threads are left out; threads that block the signal (a host's signal-consuming ones) are
 * counted, not asked.
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
/* glibc's cancellation signal (the kernel's 32). */
#define CG_SIGCANCEL 32

static struct cg_thread_snapshot slots[CG_MAX_OTHER_THREADS];
static _Atomic int done[CG_MAX_OTHER_THREADS];
static int nslots;

static void dump_self(int sig, siginfo_t *info, void *ucontext) {
    (void)sig;
    int saved_errno = errno;
    /* Block glibc's cancellation signal: a thread with asynchronous cancellation would be
     * unwound from here into its cleanup handlers.  The mask is the kernel's to restore
     * when this handler returns. */
    cg_sigset cancel = CG_SIGBIT(CG_SIGCANCEL);
    cg_sys_sigprocmask(SIG_BLOCK, &cancel, 0);
    if (info->si_code != SI_TKILL || info->si_pid != cg_sys_getpid())
        return; /* not ours: sent by someone else in the short window we hold the signal */
    pid_t tid = cg_sys_gettid();
    for (int i = 0; i < nslots; i++) {
        if (slots[i].tid != tid)
            continue;
        struct cg_regs regs;
        struct cg_reader rd;
        regs_from_context(ucontext, &regs);
        reader_init(&rd);
        uintptr_t lo = cg_self.stack_lo, hi = cg_self.stack_hi;
        if (!hi && tid == cg_config.main_tid)
            lo = cg_config.main_stack_lo, hi = cg_config.main_stack_hi;
        unwind_stack(&regs, lo, hi, &rd, &slots[i].stack);
        atomic_store(&done[i], 1);
        break;
    }
    errno = saved_errno;
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

/* Whether tid blocks sig, from the SigBlk line of /proc/self/task/<tid>/status. */
static int blocks(pid_t tid, int sig) {
    char path[64] = "/proc/self/task/", buf[2048];
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
    long len = cg_sys_read(fd, buf, sizeof buf - 1);
    cg_sys_close(fd);
    if (len <= 0)
        return 1;
    buf[len] = 0;
    for (char *p = buf; *p; p++) {
        if (p[0] != 'S' || p[1] != 'i' || p[2] != 'g' || p[3] != 'B' || p[4] != 'l' || p[5] != 'k')
            continue;
        p += 7;
        while (*p == ' ' || *p == '\t')
            p++;
        uint64_t mask = 0;
        for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
            mask = mask * 16 + (uint64_t)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
        return (int)((mask >> (sig - 1)) & 1);
    }
    return 1;
}

static int is_go_thread(pid_t tid) {
    for (int i = 0; i < CG_MAX_GO_THREADS; i++)
        if (atomic_load(&cg_go_tids[i]) == tid)
            return 1;
    return 0;
}

int collect_other_threads(pid_t self, const struct cg_thread_snapshot **snapshots, int *blocked) {
    static char dents[4096];
    int total = 0;
    *blocked = 0;
    nslots = 0;
    *snapshots = slots;
    int dir = cg_sys_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return -1;
    struct sigaction ours = {0}, saved;
    ours.sa_sigaction = dump_self;
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigfillset(&ours.sa_mask);
    if (cg_config.sigaction(CG_DUMP_SIGNAL, &ours, &saved) != 0) {
        cg_sys_close(dir);
        return -1;
    }
    for (;;) {
        long got = cg_sys_getdents64(dir, dents, sizeof dents);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            struct dirent64 *e = (struct dirent64 *)(dents + off);
            off += e->d_reclen;
            pid_t tid = parse_tid(e->d_name);
            if (!tid || tid == self || is_go_thread(tid))
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
    pid_t pid = cg_sys_getpid();
    for (int i = 0; i < nslots; i++)
        cg_sys_tgkill(pid, slots[i].tid, CG_DUMP_SIGNAL);
    for (int waited = 0; waited < DUMP_WAIT_MS; waited += 2) {
        int all = 1;
        for (int i = 0; i < nslots && all; i++)
            all = atomic_load(&done[i]);
        if (all)
            break;
        cg_sys_sleep_ms(2);
    }
    for (int i = 0; i < nslots; i++)
        slots[i].answered = atomic_load(&done[i]);
    cg_config.sigaction(CG_DUMP_SIGNAL, &saved, 0);
    return total;
}
