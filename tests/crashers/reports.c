#define _GNU_SOURCE
/* reports.c — crashes for the report's contents (tests/reports_test.go): grouping, the abort
 * message, privileged processes, size bounds.  Built -O1 with _FORTIFY_SOURCE=2 and
 * -fstack-protector-all; every function that must appear in a backtrace is noinline. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* ---- two different assertions in two functions ---- */
NOINLINE void check_config_has_a_name(int x) { assert(x == 1); }
NOINLINE void check_limits_are_sane(int y) { assert(y < 10); }

/* ---- glibc's other fatal checks ---- */
NOINLINE void free_it_twice(void) {
    char *volatile p = malloc(32);
    free(p);
    free(p);
}
NOINLINE void copy_too_much(const char *src, volatile size_t n) {
    char buf[8];
    memcpy(buf, src, n); /* __memcpy_chk: n > 8 */
    puts(buf);
}
NOINLINE void smash_the_stack(const char *src) {
    char buf[8];
    for (size_t i = 0; src[i]; i++)
        ((volatile char *)buf)[i] = src[i];
    __asm__ volatile("" ::"r"(buf) : "memory");
}

/* ---- a privileged process: not dumpable (what a setuid program is to its caller) ---- */
NOINLINE int privileged_reads(int *p) { return *p + 1; }

/* ---- many threads with deep stacks: a report larger than any bound ---- */
static pthread_barrier_t ready;
NOINLINE int descend_through_a_rather_long_function_name_to_make_frames_wide(int depth) {
    if (depth == 0) {
        pthread_barrier_wait(&ready);
        for (;;)
            pause();
    }
    return descend_through_a_rather_long_function_name_to_make_frames_wide(depth - 1) + 1;
}
static void *deep_worker(void *arg) {
    return (void *)(long)descend_through_a_rather_long_function_name_to_make_frames_wide((int)(long)arg);
}

NOINLINE int crash_in_the_main_thread(int *p) { return *p; }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "main-null";
    setvbuf(stdout, 0, _IONBF, 0);
    if (!strcmp(mode, "assert-config"))
        check_config_has_a_name(argc);
    if (!strcmp(mode, "assert-limits"))
        check_limits_are_sane(argc + 100);
    if (!strcmp(mode, "double-free"))
        free_it_twice();
    if (!strcmp(mode, "fortify"))
        copy_too_much("0123456789abcdefghijklmnopqrstuvwxyz", (size_t)argc + 30);
    if (!strcmp(mode, "smash"))
        smash_the_stack("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz");
    if (!strcmp(mode, "main-null"))
        return *(volatile int *)0;
    if (!strcmp(mode, "not-dumpable")) {
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        return privileged_reads(0);
    }
    if (!strcmp(mode, "threads")) {
        int n = argc > 2 ? atoi(argv[2]) : 60, depth = argc > 3 ? atoi(argv[3]) : 40;
        pthread_barrier_init(&ready, 0, (unsigned)n + 1);
        for (int i = 0; i < n; i++) {
            pthread_t t;
            pthread_create(&t, 0, deep_worker, (void *)(long)depth);
        }
        pthread_barrier_wait(&ready);
        return crash_in_the_main_thread(0);
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
