//go:build ignore

/*
 * pthread_interpose.c — every thread gets an alternate signal stack, so a stack overflow on a
 * worker thread is reported instead of killing the process silently (the kernel cannot push
 * a signal frame onto an exhausted stack).  Also records each thread's stack bounds for the
 * unwinder.
 *
 * Load-time code only: nothing here runs in the signal handler.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose.h"
#include "sigsafe/crashguard.h"

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* The handler's own budget on top of what the kernel's signal frame needs (AVX-512/AMX
 * frames make the legacy SIGSTKSZ of 8 KiB too small; see research go-cshared-preload §6). */
#define HANDLER_STACK_BUDGET (32 * 1024)
#define MIN_ALT_STACK (64 * 1024)

static _Atomic(pthread_create_fn) real_pthread_create;
static pthread_key_t alt_stack_key;
static pthread_once_t alt_stack_key_once = PTHREAD_ONCE_INIT;

size_t cg_alt_stack_size(void) {
    long page = sysconf(_SC_PAGESIZE), min = sysconf(_SC_SIGSTKSZ);
    size_t size = (size_t)(min > 0 ? min : 0) + HANDLER_STACK_BUDGET;
    if (size < MIN_ALT_STACK)
        size = MIN_ALT_STACK;
    return (size + (size_t)page - 1) / (size_t)page * (size_t)page;
}

/* A guard page below the stack turns an overflow of the handler itself into a clean fault
 * (handled by the kernel with the default action) instead of silent corruption. */
void *cg_install_alt_stack(void) {
    stack_t current;
    if (sigaltstack(0, &current) == 0 && !(current.ss_flags & SS_DISABLE))
        return 0; /* the thread has one already (Go, JVM, Rust std...): never replace it */
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = cg_alt_stack_size();
    char *map = mmap(0, size + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return 0;
    if (mprotect(map, page, PROT_NONE) != 0) {
        munmap(map, size + page);
        return 0;
    }
    stack_t ss = {.ss_sp = map + page, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, 0) != 0) {
        munmap(map, size + page);
        return 0;
    }
    return map;
}

/* Thread exit: disable the alternate stack before unmapping it; a signal arriving between
 * the two would otherwise be delivered onto unmapped memory and kill the process. */
static void release_alt_stack(void *map) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = cg_alt_stack_size();
    stack_t current;
    if (sigaltstack(0, &current) == 0 && current.ss_sp == (char *)map + page) {
        stack_t off = {.ss_sp = 0, .ss_size = 0, .ss_flags = SS_DISABLE};
        if (sigaltstack(&off, 0) != 0)
            return; /* still in use: leaking it is the only safe choice */
    }
    munmap(map, size + page);
}

static void create_alt_stack_key(void) {
    if (pthread_key_create(&alt_stack_key, release_alt_stack) != 0)
        alt_stack_key = (pthread_key_t)-1;
}

static void record_stack_bounds(void) {
    pthread_attr_t attr;
    void *addr;
    size_t size, guard = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        pthread_attr_getguardsize(&attr, &guard);
        cg_self.stack_lo = (uintptr_t)addr;
        cg_self.stack_hi = (uintptr_t)addr + size;
        cg_self.guard_size = guard;
    }
    pthread_attr_destroy(&attr);
}

struct start_context {
    void *(*start)(void *);
    void *arg;
};

static void *start_thread(void *p) {
    struct start_context ctx = *(struct start_context *)p;
    free(p);
    record_stack_bounds();
    void *map = cg_install_alt_stack();
    if (map) {
        pthread_once(&alt_stack_key_once, create_alt_stack_key);
        if (alt_stack_key == (pthread_key_t)-1 || pthread_setspecific(alt_stack_key, map) != 0)
            release_alt_stack(map);
    }
    return ctx.start(ctx.arg);
}

/* Resolved lazily: the constructors of the host's own libraries run before ours and may
 * already create threads through this function. */
static pthread_create_fn next_pthread_create(void) {
    pthread_create_fn fn = atomic_load(&real_pthread_create);
    if (!fn) {
        fn = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
        atomic_store(&real_pthread_create, fn);
    }
    return fn;
}

int cg_real_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                           void *arg) {
    pthread_create_fn real = next_pthread_create();
    return real ? real(thread, attr, start, arg) : EAGAIN;
}

__attribute__((visibility("default"))) int pthread_create(pthread_t *thread,
                                                          const pthread_attr_t *attr,
                                                          void *(*start)(void *), void *arg) {
    pthread_create_fn real = next_pthread_create();
    if (!real)
        return EAGAIN;
    struct start_context *ctx = malloc(sizeof *ctx);
    if (!ctx)
        return real(thread, attr, start, arg); /* no alternate stack, but the thread runs */
    ctx->start = start;
    ctx->arg = arg;
    int rc = real(thread, attr, start_thread, ctx);
    if (rc != 0)
        free(ctx);
    return rc;
}
