#define _GNU_SOURCE
/* lives_on.c — a process that lives on after crashguard's report: its library
 * recover_lib.c resolves the fault.  What the other threads saw must not have changed.
 * `lives_on MODE`:
 *
 *   errno      a worker that makes no failing call watches its errno while the fault is
 *              reported; it must stay 0, and the worker must run on afterwards
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

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "errno"))
        return errno_mode();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
