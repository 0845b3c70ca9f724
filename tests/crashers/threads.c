/* threads.c — what the pthread_create interposer costs a program: `threads MODE`.
 *
 *   many N          : creates up to N threads with 16 KiB stacks, parked on a pipe; prints how
 *                     many it got and the mappings before and after (vm.max_map_count is the
 *                     limit the interposer must not bring closer)
 *   churn N P       : P threads each create and join N/P threads, one at a time; prints the
 *                     mappings before and after
 *   altstack        : prints the alternate stack of the main thread and of a new thread
 *   overflow-reused : churns 64 threads (their alternate stacks go back to the pool), parks 8,
 *                     then overflows the stack of a new thread, on a reused alternate stack
 *   overflow-two    : two threads overflow their stacks at the same moment */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int count_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    if (!f)
        return -1;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static int park_fds[2];
static void *park(void *arg) {
    (void)arg;
    char c;
    while (read(park_fds[0], &c, 1) < 0 && errno == EINTR)
        ;
    return 0;
}

static void *nothing(void *arg) { return arg; }

static int per_churner;
static void *churner(void *arg) {
    (void)arg;
    for (int i = 0; i < per_churner; i++) {
        pthread_t t;
        if (pthread_create(&t, 0, nothing, 0) != 0)
            return (void *)1;
        pthread_join(t, 0);
    }
    return 0;
}

static void describe(const char *who) {
    stack_t s;
    sigaltstack(0, &s);
    if (s.ss_flags & SS_DISABLE)
        printf("%s: no alternate stack\n", who);
    else
        printf("%s: alternate stack of %zu bytes\n", who, s.ss_size);
}
static void *describe_thread(void *arg) {
    describe(arg);
    return 0;
}

__attribute__((noinline)) int recurse_forever(int depth) {
    volatile char pad[256];
    pad[0] = (char)depth;
    return recurse_forever(depth + 1) + pad[0];
}
static pthread_barrier_t together;
static void *overflow_thread(void *arg) {
    if (arg)
        pthread_barrier_wait(&together);
    recurse_forever(0);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "altstack";
    setvbuf(stdout, 0, _IONBF, 0);
    if (!strcmp(mode, "many")) {
        int want = argc > 2 ? atoi(argv[2]) : 20000, n = 0, rc = 0;
        if (pipe(park_fds) != 0)
            return 2;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 16384);
        int before = count_mappings();
        for (; n < want; n++) {
            pthread_t t;
            if ((rc = pthread_create(&t, &at, park, 0)) != 0)
                break;
        }
        printf("created %d threads (%s); mappings before %d after %d\n", n, n < want ? strerror(rc) : "all",
               before, count_mappings());
        _exit(0);
    }
    if (!strcmp(mode, "churn")) {
        int total = argc > 2 ? atoi(argv[2]) : 10000, parallel = argc > 3 ? atoi(argv[3]) : 1;
        per_churner = total / parallel;
        pthread_t c[64];
        int before = count_mappings();
        for (int i = 0; i < parallel && i < 64; i++)
            pthread_create(&c[i], 0, churner, 0);
        int failed = 0;
        for (int i = 0; i < parallel && i < 64; i++) {
            void *r;
            pthread_join(c[i], &r);
            failed += r != 0;
        }
        printf("churned %d threads in %d churners (%d failed); mappings before %d after %d\n",
               per_churner * parallel, parallel, failed, before, count_mappings());
        return failed != 0;
    }
    if (!strcmp(mode, "altstack")) {
        describe("main thread");
        pthread_t t;
        pthread_create(&t, 0, describe_thread, "new thread");
        pthread_join(t, 0);
        return 0;
    }
    pthread_attr_t big;
    pthread_attr_init(&big);
    pthread_attr_setstacksize(&big, 256 * 1024);
    if (!strcmp(mode, "overflow-reused")) {
        for (int i = 0; i < 64; i++) {
            pthread_t t;
            pthread_create(&t, 0, nothing, 0);
            pthread_join(t, 0);
        }
        if (pipe(park_fds) != 0)
            return 2;
        for (int i = 0; i < 8; i++) {
            pthread_t t;
            pthread_create(&t, 0, park, 0);
        }
        pthread_t t;
        pthread_create(&t, &big, overflow_thread, 0);
        pthread_join(t, 0);
        return 0;
    }
    if (!strcmp(mode, "overflow-two")) {
        pthread_barrier_init(&together, 0, 2);
        pthread_t a, b;
        pthread_create(&a, &big, overflow_thread, "a");
        pthread_create(&b, &big, overflow_thread, "b");
        pthread_join(a, 0);
        pthread_join(b, 0);
        return 0;
    }
    return 2;
}
