#define _GNU_SOURCE
/* swallow.c — crashes the handler must not swallow, nor turn into another death
 * (tests/swallow_test.go): `swallow MODE [ARG]`.
 *
 *   cancel N           N threads with a deferred pthread_cancel pending crash at once
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE int crash_at(uintptr_t addr) { return *(volatile int *)addr; }

static void say(const char *s) {
    if (write(1, s, strlen(s)) < 0)
        _exit(3);
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

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 ? argv[2] : "";
    if (!strcmp(mode, "cancel"))
        return cancel(atoi(arg));
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
