/*
 * sys.h — the system calls of the signal path, issued directly.
 *
 * Why not the C library's wrappers: read, write, open, close, poll, nanosleep, sendmsg,
 * fcntl... are POSIX cancellation points.  A thread with a deferred pthread_cancel pending
 * (set while it ran code without a cancellation point) that crashes would be cancelled by
 * the first of them inside the handler: unwound out of the signal frame, its cleanup
 * handlers run, the thread gone — no report, and the crash swallowed.  A raw system call
 * never looks at the cancellation state.  It does not touch errno either: every function
 * here returns the kernel's result, a negative errno on failure, so the interrupted code's
 * errno survives whatever the handler does.
 *
 * Header-only (static inline): the handler's files and the fuzzers that include them need
 * no extra object.
 */
#ifndef CG_SYS_H
#define CG_SYS_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>

#if defined(__x86_64__)
static inline long cg_syscall6(long n, long a, long b, long c, long d, long e, long f) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long cg_syscall6(long n, long a, long b, long c, long d, long e, long f) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory", "cc");
    return x0;
}
#else
/* Elsewhere glibc's syscall(), which is not a cancellation point either; errno is put
 * back so that the contract above holds. */
#include <errno.h>
#include <unistd.h>
static inline long cg_syscall6(long n, long a, long b, long c, long d, long e, long f) {
    int saved = errno;
    long ret = syscall(n, a, b, c, d, e, f);
    if (ret == -1) {
        ret = -errno;
        errno = saved;
    }
    return ret;
}
#endif

#define CG_SC(n, a, b, c, d, e, f) \
    cg_syscall6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static inline pid_t cg_sys_getpid(void) { return (pid_t)CG_SC(SYS_getpid, 0, 0, 0, 0, 0, 0); }
static inline pid_t cg_sys_gettid(void) { return (pid_t)CG_SC(SYS_gettid, 0, 0, 0, 0, 0, 0); }
static inline uid_t cg_sys_getuid(void) { return (uid_t)CG_SC(SYS_getuid, 0, 0, 0, 0, 0, 0); }

static inline int cg_sys_openat(int dir, const char *path, int flags, int mode) {
    return (int)CG_SC(SYS_openat, dir, path, flags, mode, 0, 0);
}
static inline int cg_sys_open(const char *path, int flags, int mode) {
    return cg_sys_openat(AT_FDCWD, path, flags, mode);
}
static inline long cg_sys_read(int fd, void *buf, size_t n) { return CG_SC(SYS_read, fd, buf, n, 0, 0, 0); }
static inline long cg_sys_write(int fd, const void *buf, size_t n) {
    return CG_SC(SYS_write, fd, buf, n, 0, 0, 0);
}
static inline long cg_sys_writev(int fd, const struct iovec *iov, int n) {
    return CG_SC(SYS_writev, fd, iov, n, 0, 0, 0);
}
static inline int cg_sys_close(int fd) { return (int)CG_SC(SYS_close, fd, 0, 0, 0, 0, 0); }
static inline int cg_sys_fstat(int fd, struct stat *st) { return (int)CG_SC(SYS_fstat, fd, st, 0, 0, 0, 0); }
static inline int cg_sys_fcntl(int fd, int cmd, long arg) { return (int)CG_SC(SYS_fcntl, fd, cmd, arg, 0, 0, 0); }
static inline long cg_sys_readlink(const char *path, char *buf, size_t size) {
    return CG_SC(SYS_readlinkat, AT_FDCWD, path, buf, size, 0, 0);
}
static inline int cg_sys_unlink(const char *path) { return (int)CG_SC(SYS_unlinkat, AT_FDCWD, path, 0, 0, 0, 0); }
static inline long cg_sys_getdents64(int fd, void *buf, size_t size) {
    return CG_SC(SYS_getdents64, fd, buf, size, 0, 0, 0);
}
/* poll() with a timeout in milliseconds, through ppoll (the one both architectures have). */
static inline int cg_sys_poll(struct pollfd *fds, unsigned n, int timeout_ms) {
    struct timespec t = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    return (int)CG_SC(SYS_ppoll, fds, n, &t, 0, 0, 0);
}
static inline int cg_sys_nanosleep(const struct timespec *t) { return (int)CG_SC(SYS_nanosleep, t, 0, 0, 0, 0, 0); }
static inline void cg_sys_sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    cg_sys_nanosleep(&t);
}
static inline int cg_sys_clock_gettime(clockid_t clock, struct timespec *t) {
    return (int)CG_SC(SYS_clock_gettime, clock, t, 0, 0, 0, 0);
}
/* The thread's alternate signal stack, read only (new: 0). */
static inline int cg_sys_sigaltstack_query(stack_t *old) { return (int)CG_SC(SYS_sigaltstack, 0, old, 0, 0, 0, 0); }
static inline int cg_sys_uname(struct utsname *u) { return (int)CG_SC(SYS_uname, u, 0, 0, 0, 0, 0); }
static inline int cg_sys_socket(int domain, int type, int proto) {
    return (int)CG_SC(SYS_socket, domain, type, proto, 0, 0, 0);
}
static inline long cg_sys_sendmsg(int fd, const struct msghdr *msg, int flags) {
    return CG_SC(SYS_sendmsg, fd, msg, flags, 0, 0, 0);
}
static inline int cg_sys_getrusage(int who, struct rusage *ru) { return (int)CG_SC(SYS_getrusage, who, ru, 0, 0, 0, 0); }

/* Files and mappings of the cache (cachefile.c), the registry (registry.c). */
static inline uid_t cg_sys_geteuid(void) { return (uid_t)CG_SC(SYS_geteuid, 0, 0, 0, 0, 0, 0); }
static inline long cg_sys_pread(int fd, void *buf, size_t n, off_t off) { return CG_SC(SYS_pread64, fd, buf, n, off, 0, 0); }
static inline long cg_sys_pwrite(int fd, const void *buf, size_t n, off_t off) {
    return CG_SC(SYS_pwrite64, fd, buf, n, off, 0, 0);
}
/* The mapping's address, or a negative errno (the kernel never maps the last page). */
static inline void *cg_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return (void *)CG_SC(SYS_mmap, addr, len, prot, flags, fd, off);
}
#define CG_MMAP_FAILED(p) ((uintptr_t)(p) > (uintptr_t)-4096)
static inline int cg_sys_munmap(void *addr, size_t len) { return (int)CG_SC(SYS_munmap, addr, len, 0, 0, 0, 0); }
static inline int cg_sys_stat_nofollow(const char *path, struct stat *st) {
    return (int)CG_SC(SYS_newfstatat, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW, 0, 0);
}
static inline int cg_sys_stat(const char *path, struct stat *st) {
    return (int)CG_SC(SYS_newfstatat, AT_FDCWD, path, st, 0, 0, 0);
}
static inline int cg_sys_access(const char *path, int mode) { return (int)CG_SC(SYS_faccessat, AT_FDCWD, path, mode, 0, 0, 0); }

/* The helper process's own set-up (helper_main.c, go_part.c): raw calls there too, so that
 * the C library functions only a helper needs are not bound at every host's start (-z now
 * binds every import of the library when it is loaded). */
static inline int cg_sys_mkdir(const char *path, int mode) { return (int)CG_SC(SYS_mkdirat, AT_FDCWD, path, mode, 0, 0, 0); }
static inline int cg_sys_fchmod(int fd, int mode) { return (int)CG_SC(SYS_fchmod, fd, mode, 0, 0, 0, 0); }
static inline int cg_sys_linkat(const char *from, const char *to, int flags) {
    return (int)CG_SC(SYS_linkat, AT_FDCWD, from, AT_FDCWD, to, flags, 0);
}
static inline long cg_sys_sendfile(int out, int in, off_t *offset, size_t n) {
    return CG_SC(SYS_sendfile, out, in, offset, n, 0, 0);
}
static inline int cg_sys_sched_setscheduler(int policy) {
    int param = 0; /* struct sched_param: one int, the priority (0 for SCHED_IDLE) */
    return (int)CG_SC(SYS_sched_setscheduler, 0, policy, &param, 0, 0, 0);
}
static inline int cg_sys_prlimit(int resource, const struct rlimit *new_limit, struct rlimit *old) {
    return (int)CG_SC(SYS_prlimit64, 0, resource, new_limit, old, 0, 0);
}

/* Starting the helper (spawn.c). */
static inline int cg_sys_memfd_create(const char *name, unsigned flags) {
    return (int)CG_SC(SYS_memfd_create, name, flags, 0, 0, 0, 0);
}
static inline int cg_sys_ftruncate(int fd, off_t len) { return (int)CG_SC(SYS_ftruncate, fd, len, 0, 0, 0, 0); }
static inline int cg_sys_dup3(int old, int new_fd) { return (int)CG_SC(SYS_dup3, old, new_fd, 0, 0, 0, 0); }
static inline int cg_sys_close_range(unsigned first, unsigned last) {
    return (int)CG_SC(SYS_close_range, first, last, 0, 0, 0, 0);
}
static inline int cg_sys_setsid(void) { return (int)CG_SC(SYS_setsid, 0, 0, 0, 0, 0, 0); }
static inline int cg_sys_prctl(int option, unsigned long a, unsigned long b) {
    return (int)CG_SC(SYS_prctl, option, a, b, 0, 0, 0);
}
static inline int cg_sys_execve(const char *path, char *const argv[], char *const envp[]) {
    return (int)CG_SC(SYS_execve, path, argv, envp, 0, 0, 0);
}
/* Ends the calling thread only (a clone child that is its own process ends with it). */
static inline __attribute__((noreturn)) void cg_sys_exit(int status) {
    for (;;)
        CG_SC(SYS_exit, status, 0, 0, 0, 0, 0);
}
static inline pid_t cg_sys_wait4(pid_t pid, int *status, int options) {
    return (pid_t)CG_SC(SYS_wait4, pid, status, options, 0, 0, 0);
}
static inline int cg_sys_kill(pid_t pid, int sig) { return (int)CG_SC(SYS_kill, pid, sig, 0, 0, 0, 0); }
/* The kernel's struct sigaction (not glibc's): handler, flags, restorer, 64-bit mask. */
struct cg_kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};
static inline int cg_sys_sigaction(int sig, const struct cg_kernel_sigaction *act) {
    return (int)CG_SC(SYS_rt_sigaction, sig, act, 0, 8, 0, 0);
}

/* Signals.  The kernel's signal set for 64 signals is one 64-bit word, glibc's sigset_t
 * 128 bytes: the handler keeps the word (its stack may be small), and names every signal,
 * also the two glibc keeps for itself (its sigaddset refuses them). */
typedef uint64_t cg_sigset;
#define CG_SIGBIT(sig) ((cg_sigset)1 << ((sig) - 1))
static inline int cg_sys_sigprocmask(int how, const cg_sigset *set, cg_sigset *old) {
    return (int)CG_SC(SYS_rt_sigprocmask, how, set, old, sizeof(cg_sigset), 0, 0);
}
static inline int cg_sys_tgkill(pid_t pid, pid_t tid, int sig) { return (int)CG_SC(SYS_tgkill, pid, tid, sig, 0, 0, 0); }
static inline int cg_sys_tgsigqueueinfo(pid_t pid, pid_t tid, int sig, const siginfo_t *info) {
    return (int)CG_SC(SYS_rt_tgsigqueueinfo, pid, tid, sig, info, 0, 0);
}

/* Futexes (private: the waiters are threads of this process). */
#define CG_FUTEX_WAIT_PRIVATE 128 /* FUTEX_WAIT | FUTEX_PRIVATE_FLAG */
#define CG_FUTEX_WAKE_PRIVATE 129 /* FUTEX_WAKE | FUTEX_PRIVATE_FLAG */
/* timeout: relative, or NULL for none. */
static inline int cg_sys_futex_wait(const void *word, int expected, const struct timespec *timeout) {
    return (int)CG_SC(SYS_futex, word, CG_FUTEX_WAIT_PRIVATE, expected, timeout, 0, 0);
}
static inline int cg_sys_futex_wake_all(const void *word) {
    return (int)CG_SC(SYS_futex, word, CG_FUTEX_WAKE_PRIVATE, 0x7fffffff, 0, 0, 0);
}

/* Whether two processes share one address space (a vfork child and its parent): 0 yes,
 * 1 or 2 no, negative errno when the kernel will not say (no CONFIG_KCMP, a filter). */
#define CG_KCMP_VM 1
static inline int cg_sys_kcmp_vm(pid_t a, pid_t b) { return (int)CG_SC(SYS_kcmp, a, b, CG_KCMP_VM, 0, 0, 0); }

/* Copies n bytes at addr of this process into buf without touching addr from user space:
 * the kernel reports an unreadable address as -EFAULT instead of a fault. */
static inline long cg_sys_read_own_memory(pid_t pid, void *buf, const void *addr, size_t n) {
    struct iovec local = {buf, n}, remote = {(void *)addr, n};
    return CG_SC(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0);
}

static inline __attribute__((noreturn)) void cg_sys_exit_group(int status) {
    for (;;)
        CG_SC(SYS_exit_group, status, 0, 0, 0, 0, 0);
}
#endif
