/* host.c — well-behaved hosts the library must not disturb: `host MODE`.
 *   signalfd | sigwait : a daemon that blocks CHLD/HUP/USR1/TERM in all its threads, forks
 *                        5 children exiting after 100..500 ms, reaps only when a SIGCHLD is
 *                        read, counts HUP and USR1, exits 0 on TERM (prints "ready" first)
 *   status             : prints SigBlk/SigIgn/SigCgt as main() sees them
 *   closefds           : closes every descriptor >= 3, reuses low numbers, then crashes
 *   reopen2 FILE       : closes fd 2, opens FILE as fd 2, then crashes
 *   fork-threads       : 4 busy threads, fork, the child crashes; the parent reports how
 *                        the child died
 *   reraise            : installs its own SIGSEGV handler after the library, which prints a
 *                        line, restores the default and re-raises
 *   query              : prints what sigaction says SIGSEGV's and SIGABRT's handlers are
 *   nofile             : opens descriptors until EMFILE, then crashes
 *   sandbox            : refuses itself openat and open with a seccomp filter (as sandboxed
 *                        programs do after start), then crashes */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *idle_worker(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return 0;
}

static int daemon_loop(int use_signalfd) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, 0);
    pthread_t t;
    for (int i = 0; i < 2; i++)
        pthread_create(&t, 0, idle_worker, 0);
    for (int i = 1; i <= 5; i++) {
        if (fork() == 0) {
            usleep(100 * 1000 * i);
            _exit(0);
        }
    }
    int fd = use_signalfd ? signalfd(-1, &set, SFD_CLOEXEC) : -1;
    printf("ready\n");
    fflush(stdout);
    int reaped = 0, hups = 0, usr1s = 0;
    for (;;) {
        int sig;
        if (use_signalfd) {
            struct signalfd_siginfo si;
            if (read(fd, &si, sizeof si) != sizeof si)
                continue;
            sig = (int)si.ssi_signo;
        } else {
            siginfo_t si;
            sig = sigwaitinfo(&set, &si);
            if (sig < 0)
                continue;
        }
        if (sig == SIGCHLD)
            while (waitpid(-1, 0, WNOHANG) > 0)
                reaped++;
        else if (sig == SIGHUP)
            hups++;
        else if (sig == SIGUSR1)
            usr1s++;
        else if (sig == SIGTERM)
            break;
    }
    printf("reaped %d hup %d usr1 %d\n", reaped, hups, usr1s);
    return 0;
}

static void print_masks(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "SigBlk:", 7) || !strncmp(line, "SigIgn:", 7) || !strncmp(line, "SigCgt:", 7))
            fputs(line, stdout);
}

__attribute__((noinline)) static int crash_now(void) { return *(volatile int *)0; }

static void *spin(void *arg) {
    for (volatile unsigned long i = 0;; i++)
        if (!arg)
            sched_yield();
    return 0;
}

static void reraising_handler(int sig) {
    static const char msg[] = "own handler ran\n";
    write(1, msg, sizeof msg - 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "signalfd"))
        return daemon_loop(1);
    if (!strcmp(mode, "sigwait"))
        return daemon_loop(0);
    if (!strcmp(mode, "status")) {
        usleep(200 * 1000); /* after the Go side, if any, has run */
        print_masks();
        return 0;
    }
    if (!strcmp(mode, "closefds")) {
        usleep(200 * 1000);
        for (int fd = 3; fd < 4096; fd++)
            close(fd);
        for (int i = 0; i < 6; i++)
            if (open("/dev/null", O_RDONLY) < 0)
                return 3;
        return crash_now();
    }
    if (!strcmp(mode, "reopen2") && argc > 2) {
        close(2);
        if (open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600) != 2)
            return 3;
        return crash_now();
    }
    if (!strcmp(mode, "fork-threads")) {
        pthread_t t;
        for (int i = 0; i < 4; i++)
            pthread_create(&t, 0, spin, (void *)1);
        usleep(100 * 1000);
        pid_t child = fork();
        if (child == 0)
            return crash_now();
        int status;
        waitpid(child, &status, 0);
        printf("child %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        fflush(stdout);
        _exit(0);
    }
    if (!strcmp(mode, "sandbox")) {
        usleep(300 * 1000);
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 1, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_open, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
            return 3;
        if (open("/dev/null", O_RDONLY) >= 0)
            return 4;
        return crash_now();
    }
    if (!strcmp(mode, "nofile")) {
        usleep(200 * 1000);
        while (open("/dev/null", O_RDONLY) >= 0)
            ;
        return crash_now();
    }
    if (!strcmp(mode, "query")) {
        struct sigaction sa;
        sigaction(SIGSEGV, 0, &sa);
        printf("SIGSEGV %s\n", sa.sa_handler == SIG_DFL ? "default" : "handled");
        void (*old)(int) = signal(SIGABRT, SIG_DFL);
        printf("SIGABRT %s\n", old == SIG_DFL ? "default" : "handled");
        return 0;
    }
    if (!strcmp(mode, "reraise")) {
        setvbuf(stdout, 0, _IONBF, 0);
        signal(SIGSEGV, reraising_handler);
        return crash_now();
    }
    return 2;
}
