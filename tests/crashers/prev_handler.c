/* prev_handler.c — a library whose constructor installs a SIGSEGV handler before the
 * preloaded crash reporter's constructor runs (the host's own libraries' constructors run
 * first).  That handler must still be called after the report. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void earlier_handler(int sig, siginfo_t *info, void *uc) {
    (void)sig, (void)uc;
    static const char msg[] = "earlier handler called for address 0\n";
    if (info->si_addr == 0)
        write(1, msg, sizeof msg - 1);
    _exit(42);
}

__attribute__((constructor)) static void install_early(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = earlier_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
}
