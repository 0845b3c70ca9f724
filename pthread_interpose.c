//go:build ignore

/*
 * pthread_interpose.c — every thread gets an alternate signal stack, so a stack overflow on a
 * worker thread is reported instead of killing the process silently (the kernel cannot push
 * a signal frame onto an exhausted stack).  Also records each thread's stack bounds for the
 * unwinder.
 *
 * Off means untouched: when the library is off (CRASHGUARD=off) or does not cover this
 * program (CRASHGUARD_INCLUDE/EXCLUDE), pthread_create is a plain call to the C library's
 * — no alternate stack, no allocation, no system call.
 *
 * On, a thread costs no mapping of its own: alternate stacks are slots carved from a few
 * large pooled mappings ("chunks"), each slot with its own guard page (see alloc_chunk for
 * how a guard page costs no extra mapping on recent kernels, and what older ones get).  A
 * slot goes back to a free list at thread exit and is handed to a later thread.  Before this
 * pool a thread cost two mappings (its alternate stack and the guard page): a program
 * reached vm.max_map_count (65530) with a third fewer threads than without us (finding 9).
 *
 * Load-time code only: nothing here runs in the signal handler.  The pool is lock-free (one
 * compare-and-swap per allocation and per release), so a fork() while another thread is in
 * here cannot leave the child a lock that nobody will release.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "interpose.h"
#include "sigsafe/crashguard.h"

/* Linux 6.13: "guard regions", PTE markers that fault like PROT_NONE without splitting the
 * mapping (older C library headers lack the names). */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static _Atomic(pthread_create_fn) real_pthread_create;

/* Resolved lazily: the constructors of the host's own libraries run before ours and may
 * already create threads through this function. */
static pthread_create_fn next_pthread_create(void) {
    pthread_create_fn fn = atomic_load_explicit(&real_pthread_create, memory_order_acquire);
    if (!fn) {
        fn = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
        atomic_store_explicit(&real_pthread_create, fn, memory_order_release);
    }
    return fn;
}

/* ---- size of a slot ---- */

/* What an alternate stack must hold: the kernel's signal frame (AT_MINSIGSTKSZ: 3.4 KB with
 * AVX-512, ~12 KB with AMX tiles), our handler's entry frames (~300 bytes) and one unwinding
 * frame before the report moves to the reporter's own static stack — and the handlers of the
 * host installed with SA_ONSTACK, which without us would have run on the thread's stack.
 * sysconf(_SC_SIGSTKSZ) is four signal frames (glibc: 4 x max(AT_MINSIGSTKSZ, MINSIGSTKSZ),
 * at least 8 KiB): room for a nested signal, e.g. a fault inside a host handler.  16 KiB more
 * is the budget for the handlers themselves.  Here (AVX-512): 13,504 + 16,384 = 29,888 ->
 * 32 KiB a slot; with AMX 47,808 + 16,384 -> 64 KiB.  Until the reporter has its own stack,
 * the whole report runs here: ~3.5 KB of text path or ~18 KB of JSON path (review finding 4)
 * plus the frame, which fits.  Never smaller than four frames the kernel reports: it refuses
 * AMX permission to a process with a thread whose alternate stack cannot hold an AMX frame
 * (research go-cshared-preload §6).  Only the pages a signal touches become resident (the
 * mappings are MAP_NORESERVE). */
#define HANDLER_BUDGET (16 * 1024)

static size_t page_size(void) {
    static _Atomic size_t cached;
    size_t page = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!page) {
        long p = sysconf(_SC_PAGESIZE);
        page = p > 0 ? (size_t)p : 4096;
        atomic_store_explicit(&cached, page, memory_order_relaxed);
    }
    return page;
}

size_t cg_alt_stack_size(void) {
    static _Atomic size_t cached;
    size_t size = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!size) {
        long sig = sysconf(_SC_SIGSTKSZ);
        size_t frames = sig > 0 ? (size_t)sig : 4 * (size_t)getauxval(AT_MINSIGSTKSZ);
        if (frames < 4 * (size_t)getauxval(AT_MINSIGSTKSZ))
            frames = 4 * (size_t)getauxval(AT_MINSIGSTKSZ);
        if (frames < 8192)
            frames = 8192;
        size_t page = page_size();
        size = (frames + HANDLER_BUDGET + page - 1) / page * page;
        atomic_store_explicit(&cached, size, memory_order_relaxed);
    }
    return size;
}

/* ---- the pool ---- */

/* Chunk k holds min(4 << k, 1024) slots: a program with a few threads reserves little
 * address space (the first chunk: 4 slots, 148 KiB here), one with 20,000 threads needs 27
 * chunks.  The slots of chunk k have the ids [first_id(k), first_id(k) + count(k)): an id
 * names its chunk by arithmetic, without a lock or a search. */
#define FIRST_CHUNK_SLOTS 4u
#define MAX_CHUNK_SLOTS 1024u
#define DOUBLINGS 8u /* 4 << 8 == 1024 */
#define MAX_CHUNKS 1024u /* 1,041,404 slots */

/* Per slot, outside the stacks (a word written into a free stack would make a page of every
 * parked slot resident): the free list's link, and the start routine handed to the new
 * thread (no malloc per thread). */
struct slot_meta {
    void *(*start)(void *);
    void *arg;
    _Atomic uint32_t next; /* id + 1 of the next free slot; 0 ends the list */
};

struct chunk {
    char *base;              /* slot i: guard page at base + i * stride, stack above it */
    struct slot_meta *meta;  /* count entries, at the top of the same mapping */
    uint32_t count;          /* slots mapped (fewer than reserved when memory was short) */
};

static struct chunk chunks[MAX_CHUNKS];
static _Atomic uint32_t chunks_reserved; /* chunk indexes handed out */
/* Treiber stack of free slots: low 32 bits id + 1 (0: empty), high 32 bits a counter that
 * changes at every update, so a pop that read a stale link cannot succeed (ABA). */
static _Atomic uint64_t free_head;

static uint32_t chunk_slots(uint32_t k) {
    return k < DOUBLINGS ? FIRST_CHUNK_SLOTS << k : MAX_CHUNK_SLOTS;
}

static uint32_t first_id(uint32_t k) {
    if (k <= DOUBLINGS)
        return FIRST_CHUNK_SLOTS * ((1u << k) - 1);
    return FIRST_CHUNK_SLOTS * ((1u << DOUBLINGS) - 1) + (k - DOUBLINGS) * MAX_CHUNK_SLOTS;
}

static uint32_t chunk_of(uint32_t id) {
    uint32_t doubled = FIRST_CHUNK_SLOTS * ((1u << DOUBLINGS) - 1);
    if (id >= doubled)
        return DOUBLINGS + (id - doubled) / MAX_CHUNK_SLOTS;
    uint32_t k = 0;
    while (first_id(k + 1) <= id)
        k++;
    return k;
}

static size_t slot_stride(void) { return page_size() + cg_alt_stack_size(); }

/* Only ids of published chunks ever reach the free list or a thread. */
static struct slot_meta *meta_of(uint32_t id) {
    uint32_t k = chunk_of(id);
    return &chunks[k].meta[id - first_id(k)];
}

static char *stack_of(uint32_t id) {
    uint32_t k = chunk_of(id);
    return chunks[k].base + (size_t)(id - first_id(k)) * slot_stride() + page_size();
}

static void push_free_chain(uint32_t first, uint32_t last) {
    uint64_t head = atomic_load_explicit(&free_head, memory_order_relaxed);
    do
        atomic_store_explicit(&meta_of(last)->next, (uint32_t)head, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&free_head, &head,
                                                  ((head >> 32) + 1) << 32 | (first + 1),
                                                  memory_order_release, memory_order_relaxed));
}

/* Maps chunk k (all of it, or as much as the address-space limit allows), keeps one slot
 * for the caller and puts the others on the free list.  Returns the id kept, or -1.
 *
 * Guard pages.  A PROT_NONE page splits a mapping in three, which is the very cost removed
 * here.  Since Linux 6.13 MADV_GUARD_INSTALL marks a page so that any access faults like
 * PROT_NONE while the mapping stays one VMA: every slot gets one below its stack, so a
 * handler that overruns its stack faults there (and dies of SIGSEGV, as before the pool)
 * instead of writing into the stack of the thread below.  Older kernels (and mlock'ed
 * processes, where the kernel refuses guard markers) get one PROT_NONE page at the bottom of
 * each chunk: an overrun is still stopped before it leaves the pool, but may first run over
 * the idle top of its neighbour's slot (4 KiB of unused red zone, then the neighbour's
 * stack), which is harmful only when that neighbour is itself on its alternate stack at the
 * same moment.  We keep the cheap layout there, because the per-thread guard mapping costs
 * a third of the threads a program can create, while the stack each slot has is four signal
 * frames plus 16 KiB and our own handler moves to a separate stack after its first frame. */
static int64_t alloc_chunk(void) {
    uint32_t k = atomic_fetch_add_explicit(&chunks_reserved, 1, memory_order_relaxed);
    if (k >= MAX_CHUNKS)
        return -1;
    size_t page = page_size(), stride = slot_stride();
    uint32_t count = chunk_slots(k);
    char *base = MAP_FAILED;
    size_t meta_bytes = 0;
    for (; count > 0; count /= 2) {
        meta_bytes = ((size_t)count * sizeof(struct slot_meta) + page - 1) / page * page;
        base = mmap(0, (size_t)count * stride + meta_bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (base != MAP_FAILED)
            break;
    }
    if (base == MAP_FAILED)
        return -1;
    size_t len = (size_t)count * stride + meta_bytes;
    /* Transparent huge pages would make the first signal on a slot fault in 2 MiB of the
     * chunk; MAP_STACK implies this only since Linux 6.7. */
    madvise(base, len, MADV_NOHUGEPAGE);
    int marked = 1;
    for (uint32_t i = 0; i < count && marked; i++)
        marked = madvise(base + (size_t)i * stride, page, MADV_GUARD_INSTALL) == 0;
    if (!marked && mprotect(base, page, PROT_NONE) != 0) {
        munmap(base, len);
        return -1;
    }
    chunks[k].base = base;
    chunks[k].meta = (struct slot_meta *)(base + (size_t)count * stride);
    chunks[k].count = count; /* published to other threads by push_free_chain's release */
    uint32_t first = first_id(k);
    if (count > 1) {
        for (uint32_t i = 1; i + 1 < count; i++)
            atomic_store_explicit(&chunks[k].meta[i].next, first + i + 2, memory_order_relaxed);
        push_free_chain(first + 1, first + count - 1);
    }
    return first;
}

/* For the report's memory map (sigsafe/maps.c), async-signal-safe: the address range of
 * pooled chunk k; 0 when k is past the chunks mapped.  A chunk still being mapped by another
 * thread (count not yet set) reads as empty.  page_size() and slot_stride() are cached by
 * the time a chunk exists: no sysconf() here. */
int cg_alt_stack_pool_range(uint32_t k, uintptr_t *lo, uintptr_t *hi) {
    if (k >= MAX_CHUNKS || k >= atomic_load_explicit(&chunks_reserved, memory_order_acquire))
        return 0;
    uint32_t count = __atomic_load_n(&chunks[k].count, __ATOMIC_ACQUIRE);
    char *base = __atomic_load_n(&chunks[k].base, __ATOMIC_ACQUIRE);
    if (!count || !base) {
        *lo = *hi = 0;
        return 1;
    }
    size_t page = page_size();
    size_t meta_bytes = ((size_t)count * sizeof(struct slot_meta) + page - 1) / page * page;
    *lo = (uintptr_t)base;
    *hi = *lo + (size_t)count * slot_stride() + meta_bytes;
    return 1;
}

/* A free slot (popped: it belongs to the caller alone from here), or -1. */
static int64_t alloc_slot(void) {
    uint64_t head = atomic_load_explicit(&free_head, memory_order_acquire);
    while ((uint32_t)head) {
        uint32_t id = (uint32_t)head - 1;
        uint32_t next = atomic_load_explicit(&meta_of(id)->next, memory_order_relaxed);
        uint64_t popped = ((head >> 32) + 1) << 32 | next;
        if (atomic_compare_exchange_weak_explicit(&free_head, &head, popped, memory_order_acquire,
                                                  memory_order_acquire))
            return id;
    }
    return alloc_chunk();
}

static void free_slot(uint32_t id) { push_free_chain(id, id); }

static int use_slot(uint32_t id) {
    stack_t ss = {.ss_sp = stack_of(id), .ss_size = cg_alt_stack_size(), .ss_flags = 0};
    return sigaltstack(&ss, 0) == 0;
}

/* The main thread, from the constructor: a constructor of the host's that ran before ours
 * may have given it an alternate stack already.  Returns the stack, or 0. */
void *cg_install_alt_stack(void) {
    stack_t current;
    if (sigaltstack(0, &current) == 0 && !(current.ss_flags & SS_DISABLE))
        return 0; /* the thread has one already (JVM, Rust std, a host library): keep it */
    int64_t id = alloc_slot();
    if (id < 0)
        return 0;
    if (!use_slot((uint32_t)id)) {
        free_slot((uint32_t)id);
        return 0;
    }
    return stack_of((uint32_t)id); /* the main thread's: never released */
}

/* ---- thread start and exit ---- */

static pthread_key_t slot_key;
static pthread_once_t slot_key_once = PTHREAD_ONCE_INIT;
static int slot_key_ok;

/* Thread exit (a key destructor: return from the start routine, pthread_exit,
 * cancellation).  A slot goes back to the free list only once the thread cannot use it any
 * more: disabled first, or no longer the thread's alternate stack.  A thread exiting while
 * running on it (pthread_exit from a handler on the alternate stack: sigaltstack refuses
 * with EPERM) keeps it for good — a leaked slot is 36 KiB of address space, a slot handed
 * out twice is two threads writing signal frames over each other. */
static void release_slot(void *value) {
    uint32_t id = (uint32_t)(uintptr_t)value - 1;
    stack_t current;
    if (sigaltstack(0, &current) != 0)
        return;
    if (!(current.ss_flags & SS_DISABLE) && current.ss_sp == stack_of(id)) {
        stack_t off = {.ss_sp = 0, .ss_size = 0, .ss_flags = SS_DISABLE};
        if (sigaltstack(&off, 0) != 0)
            return;
    }
    free_slot(id);
}

static void create_slot_key(void) { slot_key_ok = pthread_key_create(&slot_key, release_slot) == 0; }

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

/* arg is the slot's id + 1; the slot carries the host's start routine.  A new thread never
 * has an alternate stack (the kernel clears it for CLONE_VM children), so no query. */
static void *start_thread(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg - 1;
    struct slot_meta *meta = meta_of(id);
    void *(*start)(void *) = meta->start;
    void *start_arg = meta->arg;
    record_stack_bounds();
    pthread_once(&slot_key_once, create_slot_key);
    if (!slot_key_ok || !use_slot(id))
        free_slot(id);
    else if (pthread_setspecific(slot_key, arg) != 0)
        release_slot(arg);
    return start(start_arg);
}

/* Whether this process wants alternate stacks.  After our constructor: it armed the
 * handlers or it did not (off, or a program CRASHGUARD_INCLUDE/EXCLUDE leave out).
 * Before it — a thread created by the constructor of one of the host's own libraries, which
 * run first — only the off switch is cheap to know (the patterns need the executable's path
 * and the glob matcher); the constructor ignores the environment of setuid processes, so do
 * we.  A thread created by another thread while our constructor runs (after it recorded
 * main_tid, before it armed) gets no alternate stack: the window is the constructor's own
 * few microseconds. */
static int wanted(void) {
    if (__atomic_load_n(&cg_config.armed, __ATOMIC_ACQUIRE))
        return 1;
    if (__atomic_load_n(&cg_config.main_tid, __ATOMIC_RELAXED) != 0)
        return 0;
    if (getauxval(AT_SECURE))
        return 1;
    const char *v = getenv("CRASHGUARD");
    return !(v && strcmp(v, "off") == 0);
}

__attribute__((visibility("default"))) int pthread_create(pthread_t *thread,
                                                          const pthread_attr_t *attr,
                                                          void *(*start)(void *), void *arg) {
    pthread_create_fn real = next_pthread_create();
    if (!real)
        return EAGAIN;
    if (!wanted())
        return real(thread, attr, start, arg);
    int64_t id = alloc_slot();
    if (id < 0)
        return real(thread, attr, start, arg); /* no alternate stack, but the thread runs */
    struct slot_meta *meta = meta_of((uint32_t)id);
    meta->start = start;
    meta->arg = arg;
    int rc = real(thread, attr, start_thread, (void *)(uintptr_t)(id + 1));
    if (rc != 0)
        free_slot((uint32_t)id);
    return rc;
}
