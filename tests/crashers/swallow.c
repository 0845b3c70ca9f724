#define _GNU_SOURCE
/* swallow.c — crashes the handler must not swallow, nor turn into another death
 * (tests/swallow_test.go): `swallow MODE [ARG]`.
 *
 *   cancel N           N threads with a deferred pthread_cancel pending crash at once
 *   sleep|pause|poll   main blocks in that call, a worker crashes; main returning would
 *                      end the process with status 0
 *   late-answer MS     a thread sits in vfork() while main crashes: it cannot take the
 *                      backtrace signal until its child ends, MS ms later, or (MS = 0)
 *                      right after crashguard's handler of that signal is gone (seen in
 *                      /proc/<pid>/status, SigCgt)
 *   vfork              a vfork() child crashes (NULL), then the parent (address 0x10)
 *   fork-in-report     a thread forks while another thread's crash is being reported;
 *                      the child crashes (address 0x18), the first crash was at 0x8
 *   altstack SIZE guard|sentinel
 *                      the crashing thread runs on an alternate stack of SIZE bytes
 *                      ("min" = sysconf(_SC_MINSIGSTKSZ) + 2048) that the program
 *                      installed: with a guard page below it, and a worker thread on one
 *                      of its own, asked for its backtrace; or (sentinel) in a forked child,
 *                      above memory the parent checks afterwards
 *   no-vm-readv        the kernel refuses process_vm_readv (a seccomp filter): memory is
 *                      read the other way; main crashes three calls deep, a worker waits
 *   setuid-in-report   another thread calls setuid() all the time while a crash is being
 *                      reported (glibc then signals every thread, on its alternate stack)
 *   raise|abort        raise(SIGSEGV), abort()
 *   handler-reraise    after running a child: its own SIGSEGV handler on the alternate stack
 *                      gives the signal back to the default and raises it again
 *   handler-kill       the same with kill(), from a handler on the ordinary stack, the signal
 *                      arriving when the handler returns
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE int crash_at(uintptr_t addr) { return *(volatile int *)addr; }

static void say(const char *s) {
    if (write(1, s, strlen(s)) < 0)
        _exit(3);
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* ---- cancel ---- */
static atomic_int go;
static void cancel_cleanup(void *arg) {
    (void)arg;
    say("cleanup handler of a crashed thread ran\n");
}
static void *cancel_worker(void *arg) {
    (void)arg;
    pthread_cleanup_push(cancel_cleanup, 0);
    while (!atomic_load(&go)) /* no cancellation point here */
        ;
    crash_at(0);
    pthread_cleanup_pop(0);
    return 0;
}
static int cancel(int n) {
    pthread_t t[16];
    n = n < 1 ? 1 : n > 16 ? 16 : n;
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], 0, cancel_worker, 0);
    for (int i = 0; i < n; i++)
        pthread_cancel(t[i]); /* deferred: only a flag until a cancellation point */
    atomic_store(&go, 1);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], 0);
    say("all crashed threads were cancelled; the process lives on\n");
    return 0;
}

/* ---- main blocked in a call that a signal interrupts ---- */
static void *crash_soon(void *arg) {
    (void)arg;
    sleep_ms(20);
    crash_at(0);
    return 0;
}
static int blocked_main(const char *how) {
    pthread_t t;
    pthread_create(&t, 0, crash_soon, 0);
    if (!strcmp(how, "sleep"))
        sleep(30);
    else if (!strcmp(how, "pause"))
        pause();
    else
        poll(0, 0, 30000);
    say("main: returned early; exiting normally\n");
    return 0;
}

/* ---- late answer ---- */
static int child_ms;
static pid_t parent_pid;
static char status_path[64];

/* Whether the parent catches SIGRTMAX-1, from its SigCgt line; -1 if unreadable. */
static int parent_catches_dump_signal(void) {
    char buf[4096];
    int fd = open(status_path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strstr(buf, "SigCgt:");
    if (!p)
        return -1;
    unsigned long long mask = strtoull(p + 7, 0, 16);
    return (int)((mask >> (SIGRTMAX - 2)) & 1);
}

/* 40,000 mappings: the end of the report (the memory map) takes a while to write. */
static void many_mappings(void) {
    for (int i = 0; i < 20000; i++) {
        char *m = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED)
            mprotect(m, 4096, PROT_READ);
    }
}

static void *vfork_and_wait(void *arg) {
    (void)arg;
    pid_t pid = vfork();
    if (pid == 0) {
        /* The parent thread waits in vfork() (killable, not interruptible: the signal
         * stays pending) until this child ends. */
        if (child_ms) {
            sleep_ms(child_ms);
        } else {
            int seen_ours = 0;
            for (int i = 0; i < 100000 && getppid() == parent_pid; i++) {
                int caught = parent_catches_dump_signal();
                if (caught < 0 || (seen_ours && !caught))
                    break;
                seen_ours |= caught;
                usleep(50);
            }
        }
        _exit(0);
    }
    for (;;)
        pause();
}

static int late_answer(int ms) {
    child_ms = ms;
    parent_pid = getpid();
    snprintf(status_path, sizeof status_path, "/proc/%d/status", (int)parent_pid);
    many_mappings();
    pthread_t t;
    pthread_create(&t, 0, vfork_and_wait, 0);
    sleep_ms(30);
    return crash_at(0);
}

/* ---- vfork ---- */
static int vfork_crash(void) {
    pid_t pid = vfork();
    if (pid == 0) {
        crash_at(0);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    char line[96];
    snprintf(line, sizeof line, "vfork child died of signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    say(line);
    return crash_at(0x10);
}

/* ---- fork while another thread's crash is reported ---- */
static atomic_int crashing;
static void *fork_during_report(void *arg) {
    (void)arg;
    sigset_t dump;
    sigemptyset(&dump);
    sigaddset(&dump, SIGRTMAX - 1); /* not asked for a backtrace: it runs on */
    pthread_sigmask(SIG_BLOCK, &dump, 0);
    while (!atomic_load(&crashing))
        ;
    sleep_ms(60);
    pid_t pid = fork();
    if (pid == 0)
        crash_at(0x18);
    int st;
    waitpid(pid, &st, 0);
    char line[96];
    snprintf(line, sizeof line, "forked child died of signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    say(line);
    for (;;)
        pause();
    return 0;
}
static void *slow_vfork(void *arg) {
    (void)arg;
    if (vfork() == 0) {
        sleep_ms(1000); /* the reporter waits 300 ms for this thread's answer */
        _exit(0);
    }
    for (;;)
        pause();
}
static int fork_in_report(void) {
    pthread_t a, b;
    pthread_create(&a, 0, fork_during_report, 0);
    pthread_create(&b, 0, slow_vfork, 0);
    sleep_ms(30);
    atomic_store(&crashing, 1);
    return crash_at(0x8);
}

/* ---- the kernel refuses process_vm_readv ---- */
static NOINLINE int three_deep(void) { return crash_at(0); }
static NOINLINE int two_deep(void) { return three_deep() + 1; }
static NOINLINE int one_deep(void) { return two_deep() + 1; }
static NOINLINE void *waiting_worker(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return 0;
}
static int no_vm_readv(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return 4;
    long word = 0, here = 42;
    struct iovec local = {&word, sizeof word}, remote = {&here, sizeof here};
    if (syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0) == -1 && errno == EPERM)
        say("process_vm_readv refused\n");
    pthread_t t;
    pthread_create(&t, 0, waiting_worker, 0);
    sleep_ms(20);
    return one_deep();
}

static atomic_int worker_ready;

/* ---- setuid() while another thread's crash is reported ---- */
static void *setuid_all_the_time(void *arg) {
    (void)arg;
    sigset_t dump;
    sigemptyset(&dump);
    sigaddset(&dump, SIGRTMAX - 1); /* not asked for a backtrace: it runs on */
    pthread_sigmask(SIG_BLOCK, &dump, 0);
    atomic_store(&worker_ready, 1);
    for (;;)
        if (setuid(getuid()) != 0)
            _exit(5);
    return 0;
}
static int setuid_in_report(void) {
    many_mappings(); /* a report long enough to be interrupted many times */
    pthread_t a;
    pthread_create(&a, 0, setuid_all_the_time, 0);
    while (!atomic_load(&worker_ready)) /* no sleep: the setuid() calls would starve it */
        ;
    return crash_at(0);
}

/* ---- the program's own alternate stack ---- */
static size_t alt_size(const char *arg) {
    if (!strcmp(arg, "min"))
        return (size_t)sysconf(_SC_MINSIGSTKSZ) + 2048;
    return strtoul(arg, 0, 0);
}

/* size bytes with an inaccessible page below them. */
static void install_guarded_alt_stack(size_t size) {
    size_t page = 4096, mapped = page + (size + page - 1) / page * page;
    char *m = mmap(0, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m, page, PROT_NONE) != 0) {
        perror("mmap");
        exit(4);
    }
    stack_t ss = {.ss_sp = m + page, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, 0) != 0) {
        perror("sigaltstack");
        exit(4);
    }
}

static size_t worker_alt;
static NOINLINE void *worker_on_small_alt_stack(void *arg) {
    (void)arg;
    install_guarded_alt_stack(worker_alt);
    atomic_store(&worker_ready, 1);
    for (;;)
        pause();
    return 0;
}

static int altstack(size_t size, const char *variant) {
    if (!strcmp(variant, "guard")) {
        worker_alt = size;
        pthread_t t;
        pthread_create(&t, 0, worker_on_small_alt_stack, 0);
        while (!atomic_load(&worker_ready))
            sleep_ms(1);
        install_guarded_alt_stack(size);
        return crash_at(0);
    }
    /* sentinel: memory below the alternate stack, shared with the parent. */
    const size_t below = 64 * 1024;
    unsigned char *region = mmap(0, below + size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return 4;
    memset(region, 0xA5, below);
    pid_t pid = fork();
    if (pid == 0) {
        stack_t ss = {.ss_sp = region + below, .ss_size = size, .ss_flags = 0};
        if (sigaltstack(&ss, 0) != 0)
            _exit(4);
        crash_at(0);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    size_t low = below;
    for (size_t i = 0; i < below; i++)
        if (region[i] != 0xA5) {
            low = i;
            break;
        }
    char line[128];
    snprintf(line, sizeof line, "child died of signal %d; bytes below its alternate stack overwritten: %zu\n",
             WIFSIGNALED(st) ? WTERMSIG(st) : 0, below - low);
    say(line);
    return 0;
}

/* ---- a program's own handler re-raising, after it ran a child ---- */
static void run_a_child(void) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/true", "true", (char *)0);
        _exit(127);
    }
    waitpid(pid, 0, 0);
}
static void reraise_handler(int sig) {
    signal(sig, SIG_DFL);
    raise(sig);
}
static void kill_handler(int sig) {
    signal(sig, SIG_DFL);
    kill(getpid(), sig); /* blocked in here: it arrives when this handler returns */
}
static int handler_reraise(int with_kill) {
    run_a_child();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = with_kill ? kill_handler : reraise_handler;
    sa.sa_flags = with_kill ? 0 : SA_ONSTACK | SA_NODEFER;
    sigaction(SIGSEGV, &sa, 0);
    return crash_at(0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 ? argv[2] : "";
    if (!strcmp(mode, "cancel"))
        return cancel(atoi(arg));
    if (!strcmp(mode, "sleep") || !strcmp(mode, "pause") || !strcmp(mode, "poll"))
        return blocked_main(mode);
    if (!strcmp(mode, "late-answer"))
        return late_answer(atoi(arg));
    if (!strcmp(mode, "vfork"))
        return vfork_crash();
    if (!strcmp(mode, "fork-in-report"))
        return fork_in_report();
    if (!strcmp(mode, "altstack") && argc > 3)
        return altstack(alt_size(arg), argv[3]);
    if (!strcmp(mode, "no-vm-readv"))
        return no_vm_readv();
    if (!strcmp(mode, "setuid-in-report"))
        return setuid_in_report();
    if (!strcmp(mode, "raise"))
        return raise(SIGSEGV);
    if (!strcmp(mode, "child-then-raise")) {
        /* A program that ran a child, as a wrapper does, then crashes by its own raise(). */
        pid_t child = fork();
        if (child == 0)
            _exit(0);
        waitpid(child, 0, 0);
        return raise(SIGSEGV);
    }
    if (!strcmp(mode, "abort"))
        abort();
    if (!strcmp(mode, "handler-reraise"))
        return handler_reraise(0);
    if (!strcmp(mode, "handler-kill"))
        return handler_reraise(1);
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
