#define _GNU_SOURCE
/* lives_on.c — a process that lives on after crashguard's report: its library
 * recover_lib.c resolves the fault.  What the other threads saw must not have changed.
 * `lives_on MODE`:
 *
 *   errno      a worker that makes no failing call watches its errno while the fault is
 *              reported; it must stay 0, and the worker must run on afterwards
 *   host-rt    the program uses SIGRTMAX-1 itself (crashguard's backtrace signal): a thread
 *              queues it to a worker all the time, before, during and after the report;
 *              every one must reach the program's handler, and its disposition must be the
 *              program's again afterwards
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char *guarded_page(void);

static atomic_int stop;
static atomic_long spins;

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static atomic_int errno_seen;
static void *watch_errno(void *arg) {
    (void)arg;
    errno = 0;
    while (!atomic_load(&stop)) {
        if (errno != 0) {
            atomic_store(&errno_seen, errno);
            break;
        }
        atomic_fetch_add(&spins, 1);
    }
    return 0;
}

static int errno_mode(void) {
    pthread_t t;
    pthread_create(&t, 0, watch_errno, 0);
    sleep_ms(20);
    guarded_page()[0] = 1; /* reported, then resolved by the library's handler */
    long after_report = atomic_load(&spins);
    sleep_ms(50);
    long later = atomic_load(&spins);
    atomic_store(&stop, 1);
    pthread_join(t, 0);
    int e = atomic_load(&errno_seen);
    printf("worker's errno changed under it: %s\n", e ? strerror(e) : "no");
    printf("worker ran on after the report: %s\n", later > after_report ? "yes" : "no");
    return 0;
}

static atomic_long sent, received;
static void count(int sig, siginfo_t *info, void *uc) {
    (void)sig, (void)info, (void)uc;
    atomic_fetch_add(&received, 1);
}
static void *receiver(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        atomic_fetch_add(&spins, 1);
    return 0;
}
static pthread_t target;
static atomic_int sending;
static void *sender(void *arg) {
    (void)arg;
    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMAX - 1); /* so that it is not asked for a backtrace: it runs on */
    pthread_sigmask(SIG_BLOCK, &rt, 0);
    while (atomic_load(&sending)) {
        union sigval v = {.sival_int = (int)atomic_load(&sent)};
        if (pthread_sigqueue(target, SIGRTMAX - 1, v) == 0)
            atomic_fetch_add(&sent, 1);
        if (pthread_kill(target, SIGRTMAX - 1) == 0)
            atomic_fetch_add(&sent, 1);
        usleep(200);
    }
    return 0;
}

static int host_rt_mode(void) {
    struct sigaction sa, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = count;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMAX - 1, &sa, 0);
    pthread_t s;
    pthread_create(&target, 0, receiver, 0);
    atomic_store(&sending, 1);
    pthread_create(&s, 0, sender, 0);
    sleep_ms(30);
    guarded_page()[0] = 1;
    sleep_ms(30);
    atomic_store(&sending, 0);
    pthread_join(s, 0);
    for (int i = 0; i < 2000 && atomic_load(&received) < atomic_load(&sent); i++)
        sleep_ms(1);
    sigaction(SIGRTMAX - 1, 0, &now);
    atomic_store(&stop, 1);
    pthread_join(target, 0);
    printf("signals sent %ld received %ld\n", atomic_load(&sent), atomic_load(&received));
    printf("program's handler in place: %s\n",
           (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == count ? "yes" : "no");
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "errno"))
        return errno_mode();
    if (!strcmp(mode, "host-rt"))
        return host_rt_mode();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
