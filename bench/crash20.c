/* crash20.c — recurses through 20 frames and dereferences NULL; just before the fault it
 * prints CLOCK_MONOTONIC in nanoseconds, so the harness can time fault → report. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile int sink;

__attribute__((noinline)) int descend(int *p, int depth) {
    char pad[32];
    pad[depth & 31] = (char)depth;
    sink = pad[depth & 31];
    if (depth == 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        printf("%lld\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
        fflush(stdout);
        return *p;
    }
    return descend(p, depth - 1) + 1;
}

int main(int argc, char **argv) {
    struct timespec t = {0, 300 * 1000 * 1000}; /* let a cold start finish its tables */
    if (argc > 1)
        nanosleep(&t, 0);
    return descend(argc > 100 ? &argc : NULL, 18);
}
