#define _GNU_SOURCE
/* core.c — the crash zoo of the core issue: `core MODE`.  Every function that must appear in
 * a backtrace is noinline with a distinctive name; built -O0 with frame pointers. */
#include <assert.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* ---- NULL dereference through named functions (one of them static) ---- */
static NOINLINE int static_leaf_reads(int *p) { return *p; }
NOINLINE int middle_adds(int *p) { return static_leaf_reads(p) + 1; }
NOINLINE int outer_calls(int *p) { return middle_adds(p) + 2; }

/* ---- stack overflow ---- */
NOINLINE int recurse_forever(int depth) {
    volatile char pad[256];
    pad[0] = (char)depth;
    return recurse_forever(depth + 1) + pad[0];
}
static void *overflow_thread(void *arg) {
    (void)arg;
    recurse_forever(0);
    return 0;
}

/* ---- arithmetic, illegal instruction, bus error ---- */
NOINLINE int divide(int a, int b) { return a / b; }
NOINLINE void trap_here(void) { __builtin_trap(); }
NOINLINE int touch_past_eof(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0)
        return -1;
    char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -1;
    if (ftruncate(fd, 0) != 0) /* the mapping now extends past the end of the file */
        return -1;
    return p[100];
}

/* ---- abort paths ---- */
NOINLINE void check_invariant(int x) { assert(x == 42); }
NOINLINE void corrupt_heap(void) {
    char *volatile p = malloc(32);
    free(p);
    free(p); /* glibc: "free(): double free detected" -> abort() */
}

/* ---- a crash while other threads hammer malloc ---- */
static void *hammer_malloc(void *arg) {
    (void)arg;
    for (;;) {
        void *v[64];
        for (int i = 0; i < 64; i++)
            v[i] = malloc((size_t)(16 + i * 24));
        for (int i = 0; i < 64; i++)
            free(v[i]);
    }
    return 0;
}

/* ---- a fault inside the program's own signal handler ---- */
NOINLINE void usr1_handler_faults(int sig) {
    (void)sig;
    volatile int *p = 0;
    *p = 1;
}

/* The handler calls before it faults, on the program's own alternate stack. */
NOINLINE void usr1_handler_calls(int sig) {
    usr1_handler_faults(sig);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

NOINLINE int raise_from_main_helper(void) {
    raise(SIGUSR1);
    __asm__ volatile("" ::: "memory");
    return 0;
}

/* ---- the program's own SIGSEGV handler that recovers with siglongjmp ---- */
static sigjmp_buf recover_point;
static void recovering_handler(int sig) {
    (void)sig;
    siglongjmp(recover_point, 1);
}

static void *nothing(void *arg) { return arg; }

/* ---- named threads, one of which crashes ---- */
static pthread_barrier_t named_barrier;
NOINLINE void worker_waits(void) {
    for (;;)
        pause();
}
static void *named_worker(void *arg) {
    char name[16];
    snprintf(name, sizeof name, "worker-%ld", (long)arg);
    pthread_setname_np(pthread_self(), name);
    pthread_barrier_wait(&named_barrier);
    if ((long)arg == 7) {
        usleep(100 * 1000);
        static_leaf_reads(0);
    }
    worker_waits();
    return 0;
}

/* ---- several threads faulting at the same moment ---- */
static pthread_barrier_t storm_barrier;
static void *storm_thread(void *arg) {
    (void)arg;
    pthread_barrier_wait(&storm_barrier);
    return (void *)(long)static_leaf_reads(0);
}

static int count_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* ---- a fault just below the library's alternate-stack pool: its nearest mapping above ---- */
static int fault_below_our_stack(void) {
    stack_t ss;
    if (sigaltstack(0, &ss) != 0 || (ss.ss_flags & SS_DISABLE)) {
        puts("no alternate stack");
        return 3;
    }
    uintptr_t sp = (uintptr_t)ss.ss_sp;
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long lo, hi, prev_lo = 0, prev_hi = 0, before_prev_hi = 0, pool_lo = 0, pool_hi = 0, gap = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
            continue;
        if (sp >= lo && sp < hi) {
            pool_lo = lo, pool_hi = hi, gap = prev_hi;
            if (prev_hi == lo) /* a guard page split off below it */
                pool_lo = prev_lo, gap = before_prev_hi;
            break;
        }
        before_prev_hi = prev_hi;
        prev_lo = lo, prev_hi = hi;
    }
    if (!pool_lo || pool_lo - gap < 2 * 4096) {
        puts("no gap below the alternate stack");
        return 3;
    }
    printf("pool %lx-%lx fault %lx\n", pool_lo, pool_hi, pool_lo - 4096);
    *(volatile char *)(pool_lo - 4096) = 1;
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "null";
    setvbuf(stdout, 0, _IONBF, 0);
    if (!strcmp(mode, "null"))
        return outer_calls(0);
    if (!strcmp(mode, "overflow-main"))
        return recurse_forever(0);
    if (!strcmp(mode, "overflow-thread")) {
        pthread_attr_t a;
        pthread_t t;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 256 * 1024);
        pthread_create(&t, &a, overflow_thread, 0);
        pthread_join(t, 0);
        return 0;
    }
    if (!strcmp(mode, "fpe"))
        return divide(argc, argc - 2);
    if (!strcmp(mode, "ill"))
        trap_here();
    if (!strcmp(mode, "bus"))
        return touch_past_eof(argc > 2 ? argv[2] : "bus.tmp");
    if (!strcmp(mode, "assert"))
        check_invariant(argc);
    if (!strcmp(mode, "double-free"))
        corrupt_heap();
    if (!strcmp(mode, "malloc-storm")) {
        pthread_t t;
        for (int i = 0; i < 8; i++)
            pthread_create(&t, 0, hammer_malloc, 0);
        usleep(100 * 1000);
        return outer_calls(0);
    }
    if (!strcmp(mode, "in-handler")) {
        signal(SIGUSR1, usr1_handler_faults);
        raise(SIGUSR1);
        return 0;
    }
    if (!strcmp(mode, "in-handler-altstack")) {
        /* As LLVM's and faulthandler's: a handler on an alternate stack from the heap. */
        stack_t ss = {.ss_sp = malloc(64 * 1024), .ss_size = 64 * 1024, .ss_flags = 0};
        sigaltstack(&ss, 0);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = usr1_handler_calls;
        sa.sa_flags = SA_ONSTACK;
        sigaction(SIGUSR1, &sa, 0);
        return raise_from_main_helper();
    }
    if (!strcmp(mode, "threads")) {
        int before = count_mappings();
        for (int i = 0; i < 2000; i++) {
            pthread_t t;
            if (pthread_create(&t, 0, nothing, 0) != 0)
                return 3;
            pthread_join(t, 0);
        }
        printf("mappings before %d after %d\n", before, count_mappings());
        return outer_calls(0);
    }
    if (!strcmp(mode, "fork")) {
        pid_t child = fork();
        if (child == 0)
            return outer_calls(0);
        int status;
        waitpid(child, &status, 0);
        printf("child %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return 0;
    }
    if (!strcmp(mode, "own-handler")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = recovering_handler;
        sigaction(SIGSEGV, &sa, 0);
        int recovered = 0;
        for (int i = 0; i < 100; i++)
            if (sigsetjmp(recover_point, 1) == 0)
                static_leaf_reads(0);
            else
                recovered++;
        printf("recovered %d\n", recovered);
        return 0;
    }
    if (!strcmp(mode, "eight-named")) {
        pthread_t t[8];
        pthread_barrier_init(&named_barrier, 0, 9);
        for (long i = 0; i < 8; i++)
            pthread_create(&t[i], 0, named_worker, (void *)i);
        pthread_barrier_wait(&named_barrier);
        pthread_join(t[0], 0);
        return 0;
    }
    if (!strcmp(mode, "storm")) {
        pthread_t t[8];
        pthread_barrier_init(&storm_barrier, 0, 8);
        for (int i = 0; i < 8; i++)
            pthread_create(&t[i], 0, storm_thread, 0);
        for (int i = 0; i < 8; i++)
            pthread_join(t[i], 0);
        return 0;
    }
    if (!strcmp(mode, "null-after-input")) {
        /* Loaded, then a crash once told: the test changes the world in between. */
        printf("ready\n");
        fflush(stdout);
        char line[16];
        if (!fgets(line, sizeof line, stdin))
            return 1;
        return outer_calls(0);
    }
    if (!strcmp(mode, "kill-self")) {
        kill(getpid(), SIGSEGV);
        sleep(5);
        return 0;
    }
    if (!strcmp(mode, "below-our-stack"))
        return fault_below_our_stack();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
