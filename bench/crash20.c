/* crash20.c — recurses through 20 frames (or argv[2]) and dereferences NULL; just before
 * the fault it prints CLOCK_MONOTONIC in nanoseconds, so the harness can time fault →
 * report.  `crash20 wait [DEPTH]` first sleeps 300 ms (a cold start's tables). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile int sink;

/* noipa and a frame used after the call: no tail call, no recursion turned into a loop. */
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
    struct timespec t = {0, 300 * 1000 * 1000}; /* let a cold start finish its tables */
    if (argc > 1 && argv[1][0] == 'w')
        nanosleep(&t, 0);
    int depth = argc > 2 ? atoi(argv[2]) : 20;
    return descend(argc > 100 ? &argc : NULL, depth > 2 ? depth - 2 : 0);
}
