/* threads64.c — 64 threads (or argv[1]) waiting, then the main thread recurses 20 frames
 * and dereferences NULL; just before the fault it prints CLOCK_MONOTONIC in nanoseconds,
 * as crash20.c does, for crashtime.py. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile int sink;
static pthread_barrier_t ready;

static void *waiter(void *arg) {
    (void)arg;
    pthread_barrier_wait(&ready);
    for (;;)
        pause();
    return 0;
}

__attribute__((noinline, noipa)) int descend(int *p, int depth) {
    volatile char pad[32];
    pad[depth & 31] = (char)depth;
    sink = pad[depth & 31];
    if (depth == 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        printf("%lld\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
        fflush(stdout);
        return *p;
    }
    int below = descend(p, depth - 1);
    return below + pad[(depth + 1) & 31];
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 64;
    pthread_barrier_init(&ready, 0, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        pthread_create(&t, 0, waiter, 0);
    }
    pthread_barrier_wait(&ready);
    return descend(argc > 100 ? &argc : NULL, 18);
}
