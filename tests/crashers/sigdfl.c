/* sigdfl.c — every way a program can give SIGSEGV back to the default, and what it is told
 * about its dispositions on the way: `sigdfl MODE [own]`.
 *
 *   signal, bsd_signal, ssignal, sysv_signal, __sysv_signal, sigset, siginfo (SA_SIGINFO with
 *   a NULL sa_sigaction), __sigaction: that call sets SIG_DFL, then a NULL dereference; with
 *   `own`, the program first installs a handler of its own with sigaction
 *   query : a sequence of calls through all of them, printing every old action returned and
 *           what a query says after each; then a NULL dereference */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern sighandler_t bsd_signal(int, sighandler_t);
extern sighandler_t __sysv_signal(int, sighandler_t);
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

__attribute__((noinline)) int dereference(volatile int *p) { return *p; }

static void h1(int sig) { (void)sig; }
static void h2(int sig, siginfo_t *si, void *uc) { (void)sig, (void)si, (void)uc; }
static void (*libc_restorer)(void);

static const char *name(sighandler_t h) {
    if (h == SIG_DFL)
        return "SIG_DFL";
    if (h == SIG_IGN)
        return "SIG_IGN";
    if (h == SIG_HOLD)
        return "SIG_HOLD";
    if (h == SIG_ERR)
        return "SIG_ERR";
    if (h == h1)
        return "h1";
    if ((void *)h == (void *)h2)
        return "h2";
    return "other";
}

/* An old action as a program could inspect it: handler, flags, the 64 signals of the mask
 * (the C library returns its own scratch beyond them), the restorer. */
static void print_action(const char *what, const struct sigaction *sa) {
    uint64_t mask = 0;
    for (int s = 1; s <= 64; s++)
        if (sigismember(&sa->sa_mask, s) == 1)
            mask |= 1ull << (s - 1);
    printf("%-28s handler %-7s flags %#010x mask %016llx restorer %s\n", what, name(sa->sa_handler),
           (unsigned)sa->sa_flags, (unsigned long long)mask,
           sa->sa_restorer == 0 ? "none" : sa->sa_restorer == libc_restorer ? "libc" : "other");
}

static void query(const char *after) {
    struct sigaction sa;
    memset(&sa, 0x5a, sizeof sa);
    sigaction(SIGSEGV, 0, &sa);
    char what[64];
    snprintf(what, sizeof what, "after %s:", after);
    print_action(what, &sa);
}

static void returned(const char *call, sighandler_t old) { printf("%-28s returned %s\n", call, name(old)); }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "query";
    setvbuf(stdout, 0, _IONBF, 0);
    struct sigaction sa, old;
    if (argc > 2 && !strcmp(argv[2], "own")) {
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = h2;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSEGV, &sa, 0);
    }
    if (!strcmp(mode, "signal"))
        signal(SIGSEGV, SIG_DFL);
    else if (!strcmp(mode, "bsd_signal"))
        bsd_signal(SIGSEGV, SIG_DFL);
    else if (!strcmp(mode, "ssignal"))
        ssignal(SIGSEGV, SIG_DFL);
    else if (!strcmp(mode, "sysv_signal"))
        sysv_signal(SIGSEGV, SIG_DFL);
    else if (!strcmp(mode, "__sysv_signal"))
        __sysv_signal(SIGSEGV, SIG_DFL);
    else if (!strcmp(mode, "sigset"))
        sigset(SIGSEGV, SIG_DFL);
    else if (!strcmp(mode, "siginfo") || !strcmp(mode, "__sigaction")) {
        memset(&sa, 0, sizeof sa);
        sa.sa_flags = SA_SIGINFO;
        sa.sa_sigaction = 0; /* SIG_DFL */
        (!strcmp(mode, "siginfo") ? sigaction : __sigaction)(SIGSEGV, &sa, 0);
    } else if (!strcmp(mode, "query")) {
        /* The C library's trampoline, as any action it installs gets it. */
        memset(&sa, 0, sizeof sa);
        sigaction(SIGUSR2, &sa, 0);
        sigaction(SIGUSR2, 0, &old);
        libc_restorer = old.sa_restorer;

        query("start");
        returned("bsd_signal(h1)", bsd_signal(SIGSEGV, h1));
        query("bsd_signal(h1)");
        returned("sysv_signal(SIG_DFL)", sysv_signal(SIGSEGV, SIG_DFL));
        query("sysv_signal(SIG_DFL)");
        returned("sigset(h1)", sigset(SIGSEGV, h1));
        query("sigset(h1)");
        returned("sigset(SIG_DFL)", sigset(SIGSEGV, SIG_DFL));
        query("sigset(SIG_DFL)");
        returned("sigset(SIG_HOLD)", sigset(SIGSEGV, SIG_HOLD));
        returned("sigset(SIG_DFL) when held", sigset(SIGSEGV, SIG_DFL));
        query("sigset(SIG_DFL) when held");
        printf("%-28s returned %d\n", "siginterrupt(1)", siginterrupt(SIGSEGV, 1));
        query("siginterrupt(1)");
        returned("signal(h1)", signal(SIGSEGV, h1));
        query("signal(h1)");
        printf("%-28s returned %d\n", "siginterrupt(0)", siginterrupt(SIGSEGV, 0));
        query("siginterrupt(0)");
        returned("ssignal(SIG_DFL)", ssignal(SIGSEGV, SIG_DFL));
        printf("%-28s returned %d\n", "sigignore", sigignore(SIGSEGV));
        query("sigignore");
        memset(&sa, 0, sizeof sa);
        sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK | 0x400 | 0x20000000;
        sigfillset(&sa.sa_mask);
        memset(&old, 0x5a, sizeof old);
        sigaction(SIGSEGV, &sa, &old);
        print_action("siginfo default, old:", &old);
        query("siginfo default");
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = h2;
        sa.sa_flags = SA_SIGINFO;
        memset(&old, 0x5a, sizeof old);
        __sigaction(SIGSEGV, &sa, &old);
        print_action("__sigaction(h2), old:", &old);
        query("__sigaction(h2)");
        returned("__sysv_signal(SIG_DFL)", __sysv_signal(SIGSEGV, SIG_DFL));
        query("__sysv_signal(SIG_DFL)");
        memset(&old, 0x5a, sizeof old);
        sigaction(SIGSEGV, &old, &old); /* the same struct as new and old action */
        print_action("same struct in and out, old:", &old);
        returned("signal(SIG_DFL)", signal(SIGSEGV, SIG_DFL));
        query("signal(SIG_DFL)");
        returned("signal(SIG_ERR)", signal(SIGSEGV, SIG_ERR));
    } else {
        return 2;
    }
    return dereference(0);
}
