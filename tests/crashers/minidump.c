/* minidump.c — crashes for the minidump tests, built without frame pointers.
 *   deep        NULL write 20 frames down a recursion, on the main thread
 *   threads N   N named workers waiting; worker N-1 crashes in its own call chain
 *   unreadable  the crash's stack has an unreadable page above the stack pointer
 *   churn       threads start and exit all the time while the main thread crashes
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

volatile int sink;

__attribute__((noinline, noipa)) void leaf_writes(int *p) { *p = 42; }

__attribute__((noinline, noipa)) int descend(int *p, int depth) {
    volatile char pad[24];
    pad[depth % 24] = (char)depth;
    if (depth == 0) {
        leaf_writes(p);
        return 0;
    }
    int r = descend(p, depth - 1);
    return r + pad[(depth + 1) % 24];
}

static pthread_barrier_t ready;
static int nworkers;

__attribute__((noinline, noipa)) void worker_waits(void) {
    for (;;)
        pause();
}

__attribute__((noinline, noipa)) void worker_crashes(int *p) { descend(p, 3); }

static void *worker(void *arg) {
    int i = (int)(intptr_t)arg;
    char name[16];
    snprintf(name, sizeof name, "md-worker-%d", i);
    pthread_setname_np(pthread_self(), name);
    pthread_barrier_wait(&ready);
    if (i == nworkers - 1) {
        usleep(50 * 1000);
        worker_crashes(NULL);
    }
    worker_waits();
    return 0;
}

/* A page of this frame's array is made unreadable: the stack copy stops there. */
__attribute__((noinline, noipa)) void below_a_hole(void) {
    volatile char big[3 * 4096];
    big[0] = 1;
    uintptr_t page = ((uintptr_t)big + 4095) & ~(uintptr_t)4095;
    mprotect((void *)page, 4096, PROT_NONE);
    descend(NULL, 5);
    sink = big[0];
}

static void *short_lived(void *arg) {
    (void)arg;
    sink++;
    return 0;
}

static void *spawner(void *arg) {
    (void)arg;
    for (;;) {
        pthread_t t;
        if (pthread_create(&t, 0, short_lived, 0) == 0)
            pthread_detach(t);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "deep";
    if (strcmp(mode, "deep") == 0) {
        descend(NULL, 20);
    } else if (strcmp(mode, "threads") == 0) {
        nworkers = argc > 2 ? atoi(argv[2]) : 4;
        pthread_barrier_init(&ready, 0, (unsigned)nworkers + 1);
        for (int i = 0; i < nworkers; i++) {
            pthread_t t;
            pthread_create(&t, 0, worker, (void *)(intptr_t)i);
        }
        pthread_barrier_wait(&ready);
        worker_waits();
    } else if (strcmp(mode, "unreadable") == 0) {
        below_a_hole();
    } else if (strcmp(mode, "churn") == 0) {
        pthread_t t;
        for (int i = 0; i < 4; i++)
            pthread_create(&t, 0, spawner, 0);
        usleep(100 * 1000);
        descend(NULL, 10);
    }
    return 0;
}
