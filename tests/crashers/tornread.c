/* tornread.c — the sigaction interposer's record of what the program believes, read while
 * another thread keeps changing it: `tornread MODE SECONDS`.
 *
 * Built together with sigaction_interpose.c (-I the repository).  A writer thread gives
 * SIGSEGV back to the default over and over, alternating two actions that differ in every
 * field the kernel keeps; the main thread reads what die_as_before would restore and
 * counts reads that are neither of the two:
 *   published : through cg_previous_action (the handler's reader)
 *   field     : cg_crash_dispositions[slot].prev copied directly, as handler.c reads it
 *               before it calls cg_previous_action (shows the stress does catch tears);
 *               stops at the first tear */
#include "../../sigaction_interpose.c"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct cg_crash_disposition cg_crash_dispositions[CG_NCRASH];
int cg_crash_slot(int sig) { return sig == SIGSEGV ? 0 : -1; }

static void ours(int sig, siginfo_t *info, void *uc) { (void)sig, (void)info, (void)uc; }

static struct sigaction a, b;
static _Atomic int stop;
static _Atomic long writes;

static void *writer(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        sigaction(SIGSEGV, &a, 0);
        sigaction(SIGSEGV, &b, 0);
        atomic_fetch_add(&writes, 2);
    }
    return 0;
}

int main(int argc, char **argv) {
    int field = argc > 1 && !strcmp(argv[1], "field");
    double seconds = argc > 2 ? atof(argv[2]) : 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = ours;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (cg_real_sigaction(SIGSEGV, &sa, &cg_crash_dispositions[0].prev) != 0)
        return 2;
    cg_hold_signal(SIGSEGV, &sa);

    /* Two defaults differing in flags, mask and restorer-independent bits. */
    memset(&a, 0, sizeof a);
    a.sa_flags = SA_RESTART | SA_NODEFER | SA_ONSTACK;
    sigfillset(&a.sa_mask);
    memset(&b, 0, sizeof b);
    b.sa_flags = SA_RESETHAND;
    sigemptyset(&b.sa_mask);
    /* What each looks like once recorded (as the kernel would keep it). */
    struct sigaction want_a, want_b, got;
    sigaction(SIGSEGV, &a, 0);
    cg_previous_action(0, &want_a);
    sigaction(SIGSEGV, &b, 0);
    cg_previous_action(0, &want_b);
    if (!memcmp(&want_a, &want_b, sizeof want_a))
        return 3;

    pthread_t t;
    pthread_create(&t, 0, writer, 0);
    long reads = 0, torn = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int i = 0; i < 1000; i++) {
            if (field)
                memcpy(&got, (const void *)&cg_crash_dispositions[0].prev, sizeof got);
            else
                cg_previous_action(0, &got);
            reads++;
            if (memcmp(&got, &want_a, sizeof got) && memcmp(&got, &want_b, sizeof got))
                torn++;
        }
        if (field && torn)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    atomic_store(&stop, 1);
    pthread_join(t, 0);
    printf("reads %ld writes %ld torn %ld\n", reads, atomic_load(&writes), torn);
    return 0;
}
