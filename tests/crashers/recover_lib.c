/* recover_lib.c — a library whose constructor installs a SIGSEGV handler before the
 * preloaded crash reporter's constructor runs (a program's own libraries are initialised
 * first), for faults it expects: the first write to a guarded page is resolved (the page is
 * made writable) and the program goes on, as a garbage collector's write barrier or a
 * lazily committed buffer would.  crashguard, whose handler sees the fault first, reports it
 * and hands it on: the process lives on after a report (lives_on.c). */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

static char *guarded;

static void resolve(int sig, siginfo_t *info, void *uc) {
    (void)uc;
    char *a = info->si_addr;
    if (a >= guarded && a < guarded + 4096 && mprotect(guarded, 4096, PROT_READ | PROT_WRITE) == 0)
        return;
    signal(sig, SIG_DFL);
}

__attribute__((constructor)) static void install(void) {
    guarded = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = resolve;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
}

char *guarded_page(void) { return guarded; }
