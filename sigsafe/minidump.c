//go:build ignore

/*
 * minidump.c — the crash as a minidump (docs/minidump.md), laid out as Breakpad's Linux
 * minidump_writer lays it out, so that minidump_stackwalk, Crashpad servers and Sentry read
 * it with the symbols dump_syms makes.
 *
 * Written by the handler after the report, on the report's stack, with raw system calls and
 * static working areas only.  The file is filled front to back through one static buffer:
 * the header and stream directory are reserved at offset 0 and written last, every other
 * block is appended once (memory is copied by the kernel straight from the process into the
 * buffer, cg_read_memory), and the tables that point at blocks (threads, modules, memory)
 * follow the blocks.  The file is an unnamed O_TMPFILE linked under its name only once it
 * is whole: a full disk, a kill or a fault in the middle leaves no file at all, never a
 * truncated minidump.  Where O_TMPFILE or /proc is unavailable, the name is created
 * exclusively (as the report file is) and removed again if the dump fails.
 *
 * Bounded: stacks are cut at STACK_CAP_CRASHED / STACK_CAP_OTHER bytes, the /proc streams at
 * PROC_STREAM_CAP, the memory list at MAX_RANGES ranges.
 */
#include "minidump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/utsname.h>
#include <time.h>
#include <ucontext.h>

#include "crashguard.h"
#include "describe.h"
#include "memread.h"
#include "out.h"
#include "sinks.h"
#include "sys.h"
#include "threads.h"

/* Set by the dynamic loader: the initial stack pointer, where argc sits.  Above it lie
 * argv, the environment and the auxiliary vector; the main thread's stack is copied only up
 * to here, and no memory window reaches above it: the environment may hold secrets. */
extern void *__libc_stack_end;

/* ---- the format (docs/minidump.md; Breakpad's minidump_format.h) ---- */

#define MD_SIGNATURE 0x504d444du /* "MDMP" */
#define MD_VERSION 0xa793u
#define MD_HEADER_SIZE 32
#define MD_DIRECTORY_ENTRY_SIZE 12

enum {
    MD_THREAD_LIST_STREAM = 3,
    MD_MODULE_LIST_STREAM = 4,
    MD_MEMORY_LIST_STREAM = 5,
    MD_EXCEPTION_STREAM = 6,
    MD_SYSTEM_INFO_STREAM = 7,
    MD_THREAD_NAME_LIST_STREAM = 24,
    MD_LINUX_PROC_STATUS = 0x47670004,
    MD_LINUX_CMD_LINE = 0x47670006,
    MD_LINUX_AUXV = 0x47670008,
    MD_LINUX_MAPS = 0x47670009,
};
#define MAX_STREAMS 12

#define MD_CONTEXT_SIZE 1232 /* MDRawContextAMD64 */
#define MD_THREAD_SIZE 48
#define MD_MODULE_SIZE 108
#define MD_MEMORY_DESCRIPTOR_SIZE 16
#define MD_THREAD_NAME_SIZE 12 /* packed to 4: uint32 tid, uint64 rva */
#define MD_EXCEPTION_STREAM_SIZE 168
#define MD_SYSTEM_INFO_SIZE 56

#define MD_CONTEXT_AMD64 0x00100000u
#define MD_CONTEXT_AMD64_CONTROL (MD_CONTEXT_AMD64 | 0x1)
#define MD_CONTEXT_AMD64_INTEGER (MD_CONTEXT_AMD64 | 0x2)
#define MD_CONTEXT_AMD64_FLOATING_POINT (MD_CONTEXT_AMD64 | 0x8)
#define MD_CPU_ARCHITECTURE_AMD64 9
#define MD_OS_LINUX 0x8201
#define MD_CVINFOELF_SIGNATURE 0x4270454cu /* "LEpB" */

/* ---- bounds ---- */

#define STACK_CAP_CRASHED (256u << 10)
#define STACK_CAP_OTHER (64u << 10)
#define RED_ZONE 128            /* below the stack pointer, where leaf functions keep data */
#define WINDOW_HALF 128         /* memory windows: 256 bytes around an address */
#define PROC_STREAM_CAP (1u << 20)
#define MAX_THREADS (CG_MAX_OTHER_THREADS + 1)
#define MAX_RANGES 512
#define MAX_FILE_SIZE (256u << 20)
#define USER_TOP ((uintptr_t)1 << 56) /* above every user address, even with 5-level paging */

/* Local wrappers for the few system calls only this file makes (sys.h's conventions). */
static inline int md_sys_affinity(void *mask, size_t size) {
    return (int)CG_SC(SYS_sched_getaffinity, 0, size, mask, 0, 0, 0);
}

/* ---- the file: appended through one buffer ---- */

static struct {
    int fd;
    int failed;   /* a write failed (a full disk) or the size bound was hit: no file */
    uint32_t pos; /* the RVA the next appended byte gets */
    size_t len;   /* bytes waiting in buf */
    unsigned char buf[64 * 1024];
} f;

static char name[CG_PATH_MAX];    /* the expanded pattern */
static char tmp_link[64];         /* /proc/self/fd/N of the unnamed file */

static void flush(void) {
    for (size_t off = 0; off < f.len && !f.failed;) {
        long n = cg_sys_write(f.fd, f.buf + off, f.len - off);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            f.failed = 1;
        else
            off += (size_t)n;
    }
    f.len = 0;
}

/* Room for n more bytes in the file's bounds; the dump fails past them. */
static int fits(size_t n) {
    if (f.failed || (uint64_t)f.pos + n > MAX_FILE_SIZE) {
        f.failed = 1;
        return 0;
    }
    return 1;
}

static uint32_t append(const void *p, size_t n) {
    uint32_t rva = f.pos;
    if (!fits(n))
        return rva;
    const unsigned char *s = p;
    while (n) {
        if (f.len == sizeof f.buf)
            flush();
        size_t room = sizeof f.buf - f.len, k = n < room ? n : room;
        if (s)
            __builtin_memcpy(f.buf + f.len, s, k);
        else
            __builtin_memset(f.buf + f.len, 0, k);
        f.len += k;
        f.pos += (uint32_t)k;
        n -= k;
        if (s)
            s += k;
    }
    return rva;
}

static void align8(void) {
    static const unsigned char zero[8];
    if (f.pos & 7)
        append(zero, 8 - (f.pos & 7));
}

/* Copies what is readable of [addr, addr+n) from its start, straight into the buffer;
 * returns how many bytes that was (the copy stops at the first unreadable page). */
static size_t append_memory(uintptr_t addr, size_t n) {
    size_t done = 0;
    if (f.failed || f.pos >= MAX_FILE_SIZE)
        return 0;
    if (n > MAX_FILE_SIZE - f.pos)
        n = MAX_FILE_SIZE - f.pos; /* memory is cut at the bound; the file stays whole */
    while (done < n && !f.failed) {
        if (f.len == sizeof f.buf)
            flush();
        size_t room = sizeof f.buf - f.len, want = n - done < room ? n - done : room;
        size_t got = cg_read_memory(f.buf + f.len, addr + done, want);
        f.len += got;
        f.pos += (uint32_t)got;
        done += got;
        if (got < want)
            break;
    }
    return done;
}

/* Little-endian stores into a table being built. */
static void put16(unsigned char *p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
static void put32(unsigned char *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }

/* ---- strings: MDString, a byte length and UTF-16LE with a terminating 0 ---- */

/* The next code point of UTF-8 text (invalid bytes: U+FFFD, one byte each). */
static uint32_t next_code_point(const unsigned char **s) {
    const unsigned char *p = *s;
    uint32_t c = *p++;
    int more = c >= 0xf0 && c < 0xf8 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (c >= 0x80 && !more) {
        *s = p;
        return 0xfffd;
    }
    if (more)
        c &= 0x3fu >> more;
    for (int i = 0; i < more; i++, p++) {
        if ((*p & 0xc0) != 0x80) {
            *s = *s + 1;
            return 0xfffd;
        }
        c = c << 6 | (*p & 0x3fu);
    }
    *s = p;
    return c > 0x10ffff || (c >= 0xd800 && c < 0xe000) ? 0xfffd : c;
}

static uint32_t append_string(const char *text, size_t max) {
    uint32_t units = 0;
    const unsigned char *s = (const unsigned char *)text, *end = s + cg_strnlen(text, max);
    while (s < end)
        units += next_code_point(&s) >= 0x10000 ? 2 : 1;
    align8();
    unsigned char word[4];
    put32(word, units * 2);
    uint32_t rva = append(word, 4);
    for (s = (const unsigned char *)text; s < end;) {
        uint32_t c = next_code_point(&s);
        if (c >= 0x10000) {
            c -= 0x10000;
            put16(word, (uint16_t)(0xd800 + (c >> 10)));
            put16(word + 2, (uint16_t)(0xdc00 + (c & 0x3ff)));
            append(word, 4);
        } else {
            put16(word, (uint16_t)c);
            append(word, 2);
        }
    }
    append(0, 2);
    return rva;
}

/* ---- memory: the memory list, without overlaps (a reader rejects a list with them) ---- */

static struct range {
    uint64_t start;
    uint32_t size, rva;
} ranges[MAX_RANGES];
static int nranges;

static void add_range(uint64_t start, uint32_t size, uint32_t rva) {
    if (nranges < MAX_RANGES && size)
        ranges[nranges++] = (struct range){start, size, rva};
}

/* Where memory windows may not reach: the environment above the main thread's stack. */
static uintptr_t private_lo, private_hi;

/* Copies the readable parts of [a, b), page by page, each as a range of its own. */
static void capture_piece(uintptr_t a, uintptr_t b) {
    while (a < b && nranges < MAX_RANGES && !f.failed) {
        uint32_t rva = f.pos;
        size_t got = append_memory(a, b - a);
        add_range(a, (uint32_t)got, rva);
        a += got;
        if (a < b)
            a = (a | 4095) + 1; /* past the unreadable page (never 0: below USER_TOP) */
    }
}

/* A window of memory around addr, less what is already in the list. */
static void capture_window(uintptr_t addr) {
    if (addr < 4096 + WINDOW_HALF || addr >= USER_TOP - WINDOW_HALF)
        return; /* a small number or a kernel address: no window */
    uintptr_t a = addr - WINDOW_HALF, b = addr + WINDOW_HALF;
    if (a < private_hi && b > private_lo) {
        if (a >= private_lo)
            a = private_hi;
        if (b <= private_hi)
            b = private_lo;
    }
    while (a < b) {
        uintptr_t end = b;
        int inside = 0;
        for (int i = 0; i < nranges; i++) {
            uintptr_t s = (uintptr_t)ranges[i].start, e = s + ranges[i].size;
            if (a >= s && a < e) {
                a = e;
                inside = 1;
                break;
            }
            if (s > a && s < end)
                end = s;
        }
        if (inside)
            continue;
        capture_piece(a, end);
        a = end;
    }
}

/* ---- threads ---- */

struct md_thread {
    pid_t tid;
    const struct cg_thread_context *ctx;
    uint32_t context_rva;
    uint64_t stack_start;
    uint32_t stack_size, stack_rva;
    uint32_t name_rva;
};
static struct md_thread threads[MAX_THREADS];
static int nthreads;
static struct cg_thread_context crashed;
static unsigned char context[MD_CONTEXT_SIZE];

/* MDRawContextAMD64 from the ucontext, as Breakpad fills it from one. */
static uint32_t append_context(const struct cg_thread_context *c) {
    static const struct {
        int off, reg;
    } regs[] = {
        {120, REG_RAX}, {128, REG_RCX}, {136, REG_RDX}, {144, REG_RBX}, {152, REG_RSP},
        {160, REG_RBP}, {168, REG_RSI}, {176, REG_RDI}, {184, REG_R8},  {192, REG_R9},
        {200, REG_R10}, {208, REG_R11}, {216, REG_R12}, {224, REG_R13}, {232, REG_R14},
        {240, REG_R15}, {248, REG_RIP},
    };
    __builtin_memset(context, 0, sizeof context);
    uint32_t flags = MD_CONTEXT_AMD64_CONTROL | MD_CONTEXT_AMD64_INTEGER;
    if (c->has_fp) {
        flags |= MD_CONTEXT_AMD64_FLOATING_POINT;
        /* The kernel's FXSAVE image is the minidump's flt_save byte for byte. */
        __builtin_memcpy(context + 256, c->fpstate, 512);
        __builtin_memcpy(context + 52, c->fpstate + 24, 4); /* mx_csr */
    }
    put32(context + 48, flags);
    uint64_t csgsfs = c->gregs[REG_CSGSFS];
    put16(context + 56, (uint16_t)csgsfs);         /* cs */
    put16(context + 62, (uint16_t)(csgsfs >> 32)); /* fs */
    put16(context + 64, (uint16_t)(csgsfs >> 16)); /* gs */
    put32(context + 68, (uint32_t)c->gregs[REG_EFL]);
    for (unsigned i = 0; i < sizeof regs / sizeof regs[0]; i++)
        put64(context + regs[i].off, c->gregs[regs[i].reg]);
    align8();
    return append(context, sizeof context);
}

/* The stack from just below the stack pointer (the red zone) up to the thread's stack top
 * (the main thread: to argc, below the environment), at most cap bytes, stopping at the
 * first unreadable page. */
static void capture_stack(struct md_thread *t, size_t cap) {
    uintptr_t sp = (uintptr_t)t->ctx->gregs[REG_RSP];
    uintptr_t lo = t->ctx->stack_lo, hi = t->ctx->stack_hi;
    if (t->tid == cg_config.main_tid && private_lo && (!hi || hi > private_lo) && sp < private_lo)
        hi = private_lo;
    uintptr_t start = (sp > RED_ZONE ? sp - RED_ZONE : sp) & ~(uintptr_t)15;
    if (lo && start < lo && sp >= lo)
        start = lo;
    uintptr_t end = hi && sp >= lo && sp < hi ? hi : start + cap;
    if (end - start > cap)
        end = start + cap;
    t->stack_start = start;
    t->stack_size = 0;
    t->stack_rva = 0;
    if (sp < 4096 || end <= start)
        return;
    /* An overflowed stack's pointer is in its guard page: then from the stack pointer, and
     * failing that from the first page above it. */
    uintptr_t tries[3] = {start, sp & ~(uintptr_t)15, (sp | 4095) + 1};
    for (int i = 0; i < 3 && !t->stack_size; i++) {
        if (tries[i] < start || tries[i] >= end || (i && tries[i] == tries[i - 1]))
            continue;
        uint32_t rva = f.pos;
        size_t got = append_memory(tries[i], end - tries[i]);
        if (got) {
            t->stack_start = tries[i];
            t->stack_size = (uint32_t)got;
            t->stack_rva = rva;
        }
    }
    add_range(t->stack_start, t->stack_size, t->stack_rva);
}

static char comm[64];

static void thread_name(pid_t tid, char *out, size_t size) {
    char path[48] = "/proc/self/task/", digits[24];
    size_t n = cg_strlen(path), first = cg_format_udec(digits, (uint64_t)tid);
    for (size_t i = first; i < sizeof digits; i++)
        path[n++] = digits[i];
    for (const char *t = "/comm"; *t;)
        path[n++] = *t++;
    path[n] = 0;
    long len = -1;
    int fd = cg_sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd >= 0) {
        do
            len = cg_sys_read(fd, out, size - 1);
        while (len == -EINTR);
        cg_sys_close(fd);
    }
    if (len < 0)
        len = 0;
    while (len > 0 && out[len - 1] == '\n')
        len--;
    out[len] = 0;
}

/* ---- streams ---- */

static unsigned char directory[MAX_STREAMS * MD_DIRECTORY_ENTRY_SIZE];
static int nstreams;

static void add_stream(uint32_t type, uint32_t rva, uint32_t size) {
    if (nstreams == MAX_STREAMS)
        return;
    unsigned char *d = directory + nstreams++ * MD_DIRECTORY_ENTRY_SIZE;
    put32(d, type);
    put32(d + 4, size);
    put32(d + 8, rva);
}

static unsigned char row[MD_MODULE_SIZE];

static void write_thread_list(void) {
    align8();
    unsigned char count[4];
    put32(count, (uint32_t)nthreads);
    uint32_t rva = append(count, 4);
    for (int i = 0; i < nthreads; i++) {
        const struct md_thread *t = &threads[i];
        __builtin_memset(row, 0, MD_THREAD_SIZE);
        put32(row, (uint32_t)t->tid);
        put64(row + 24, t->stack_start);
        put32(row + 32, t->stack_size);
        put32(row + 36, t->stack_rva);
        put32(row + 40, MD_CONTEXT_SIZE);
        put32(row + 44, t->context_rva);
        append(row, MD_THREAD_SIZE);
    }
    add_stream(MD_THREAD_LIST_STREAM, rva, 4 + (uint32_t)nthreads * MD_THREAD_SIZE);
}

static void write_thread_names(void) {
    align8();
    unsigned char count[4];
    put32(count, (uint32_t)nthreads);
    uint32_t rva = append(count, 4);
    for (int i = 0; i < nthreads; i++) {
        put32(row, (uint32_t)threads[i].tid);
        put64(row + 4, threads[i].name_rva);
        append(row, MD_THREAD_NAME_SIZE);
    }
    add_stream(MD_THREAD_NAME_LIST_STREAM, rva, 4 + (uint32_t)nthreads * MD_THREAD_NAME_SIZE);
}

static void write_memory_list(void) {
    align8();
    unsigned char count[4];
    put32(count, (uint32_t)nranges);
    uint32_t rva = append(count, 4);
    for (int i = 0; i < nranges; i++) {
        put64(row, ranges[i].start);
        put32(row + 8, ranges[i].size);
        put32(row + 12, ranges[i].rva);
        append(row, MD_MEMORY_DESCRIPTOR_SIZE);
    }
    add_stream(MD_MEMORY_LIST_STREAM, rva, 4 + (uint32_t)nranges * MD_MEMORY_DESCRIPTOR_SIZE);
}

/* Every module in the registry: its mapped extent, path, and a CodeView record with the
 * GNU build-id ("BpEL" + the id's bytes), from which readers derive the debug identifier
 * dump_syms gives its symbol file. */
static uint32_t module_name_rva[CG_MAX_MODULES], module_cv_rva[CG_MAX_MODULES];

static void write_module_list(void) {
    uint32_t n = atomic_load_explicit(&cg_module_count, memory_order_acquire), listed = 0;
    if (n > CG_MAX_MODULES)
        n = CG_MAX_MODULES;
    for (uint32_t i = 0; i < n; i++) {
        const struct cg_module *m = cg_module_at(i);
        if (!m->hi)
            continue;
        listed++;
        const char *path = i == 0 && !m->path[0] ? cg_executable_path() : m->path;
        module_name_rva[i] = append_string(path, CG_PATH_MAX);
        module_cv_rva[i] = 0;
        if (m->build_id_len) {
            unsigned char sig[4];
            put32(sig, MD_CVINFOELF_SIGNATURE);
            align8();
            module_cv_rva[i] = append(sig, 4);
            append(m->build_id, m->build_id_len);
        }
    }
    align8();
    unsigned char count[4];
    put32(count, listed);
    uint32_t rva = append(count, 4);
    for (uint32_t i = 0; i < n; i++) {
        const struct cg_module *m = cg_module_at(i);
        if (!m->hi)
            continue;
        uintptr_t base = m->lo & ~(uintptr_t)4095, end = (m->hi + 4095) & ~(uintptr_t)4095;
        __builtin_memset(row, 0, MD_MODULE_SIZE);
        put64(row, base);
        put32(row + 8, (uint32_t)(end - base));
        put32(row + 20, module_name_rva[i]);
        if (module_cv_rva[i]) {
            put32(row + 76, 4 + m->build_id_len);
            put32(row + 80, module_cv_rva[i]);
        }
        append(row, MD_MODULE_SIZE);
    }
    add_stream(MD_MODULE_LIST_STREAM, rva, 4 + listed * MD_MODULE_SIZE);
}

/* A file of /proc as a stream of its own, at most PROC_STREAM_CAP bytes. */
static void write_file_stream(uint32_t type, const char *path) {
    int fd = cg_sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    align8();
    uint32_t rva = f.pos, total = 0;
    while (total < PROC_STREAM_CAP && fits(1)) {
        if (f.len == sizeof f.buf)
            flush();
        size_t room = sizeof f.buf - f.len;
        if (room > PROC_STREAM_CAP - total)
            room = PROC_STREAM_CAP - total;
        long got = cg_sys_read(fd, f.buf + f.len, room);
        if (got == -EINTR)
            continue;
        if (got <= 0)
            break;
        f.len += (size_t)got;
        f.pos += (uint32_t)got;
        total += (uint32_t)got;
    }
    cg_sys_close(fd);
    if (total)
        add_stream(type, rva, total);
}

static unsigned cpu_count(void) {
    /* "0-1", "0,2-5": the CPUs the kernel knows, as Breakpad counts them. */
    static char list[256];
    unsigned count = 0;
    int fd = cg_sys_open("/sys/devices/system/cpu/present", O_RDONLY | O_CLOEXEC, 0);
    long len = fd >= 0 ? cg_sys_read(fd, list, sizeof list - 1) : -1;
    if (fd >= 0)
        cg_sys_close(fd);
    if (len > 0) {
        unsigned a = 0, b = 0, *cur = &a;
        int digits = 0;
        for (long i = 0; i <= len; i++) {
            char c = i < len ? list[i] : ',';
            if (c >= '0' && c <= '9') {
                *cur = *cur * 10 + (unsigned)(c - '0');
                digits = 1;
            } else if (c == '-') {
                cur = &b;
                b = 0;
            } else if (digits) {
                count += cur == &b && b >= a ? b - a + 1 : 1;
                a = b = 0;
                cur = &a;
                digits = 0;
            }
        }
    }
    if (!count) {
        static uint64_t mask[16];
        int got = md_sys_affinity(mask, sizeof mask);
        for (int i = 0; got > 0 && i < got / 8; i++)
            count += (unsigned)__builtin_popcountll(mask[i]);
    }
    return count ? count : 1;
}

static void cpuid(uint32_t leaf, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "0"(leaf), "2"(0u));
}

static uint32_t release_number(const char **s) {
    uint32_t v = 0;
    while (**s >= '0' && **s <= '9')
        v = v * 10 + (uint32_t)(*(*s)++ - '0');
    if (**s == '.')
        (*s)++;
    return v;
}

static void write_system_info(void) {
    static struct utsname u;
    static char version[4 * sizeof u.release + 4];
    __builtin_memset(&u, 0, sizeof u);
    cg_sys_uname(&u);
    /* "Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC ... x86_64", as `uname -srvm` */
    size_t n = 0;
    const char *parts[4] = {u.sysname, u.release, u.version, u.machine};
    for (int i = 0; i < 4; i++) {
        for (size_t k = 0; parts[i][k] && k < sizeof u.release && n + 2 < sizeof version; k++)
            version[n++] = parts[i][k];
        if (i < 3)
            version[n++] = ' ';
    }
    version[n] = 0;
    uint32_t csd = append_string(version, sizeof version);

    uint32_t r[4], vendor[3], version_info = 0, features = 0, amd = 0;
    cpuid(0, r);
    vendor[0] = r[1], vendor[1] = r[3], vendor[2] = r[2];
    uint32_t max_leaf = r[0];
    if (max_leaf >= 1) {
        cpuid(1, r);
        version_info = r[0];
        features = r[3];
    }
    cpuid(0x80000000u, r);
    if (r[0] >= 0x80000001u) {
        cpuid(0x80000001u, r);
        amd = r[3];
    }
    /* Family and model as Breakpad derives them: extended fields for family 0xf (and 6). */
    uint32_t family = (version_info >> 8) & 0xf, model = (version_info >> 4) & 0xf;
    if (family == 0xf)
        family += (version_info >> 20) & 0xff;
    if (family == 0xf || family == 6)
        model += ((version_info >> 16) & 0xf) << 4;

    const char *rel = u.release;
    uint32_t major = release_number(&rel), minor = release_number(&rel), build = release_number(&rel);
    unsigned cpus = cpu_count();

    static unsigned char info[MD_SYSTEM_INFO_SIZE];
    __builtin_memset(info, 0, sizeof info);
    put16(info, MD_CPU_ARCHITECTURE_AMD64);
    put16(info + 2, (uint16_t)family);
    put16(info + 4, (uint16_t)(model << 8 | (version_info & 0xf)));
    info[6] = (unsigned char)(cpus > 255 ? 255 : cpus);
    put32(info + 8, major);
    put32(info + 12, minor);
    put32(info + 16, build);
    put32(info + 20, MD_OS_LINUX);
    put32(info + 24, csd);
    put32(info + 32, vendor[0]);
    put32(info + 36, vendor[1]);
    put32(info + 40, vendor[2]);
    put32(info + 44, version_info);
    put32(info + 48, features);
    put32(info + 52, amd);
    align8();
    uint32_t rva = append(info, sizeof info);
    add_stream(MD_SYSTEM_INFO_STREAM, rva, sizeof info);
}

/* The signal as Breakpad's Linux writer records it: the signal number as the exception
 * code, si_code as its flags, the fault address (0 for a signal that has none). */
static void write_exception(int sig, const siginfo_t *info, pid_t tid, uint32_t context_rva) {
    static unsigned char e[MD_EXCEPTION_STREAM_SIZE];
    __builtin_memset(e, 0, sizeof e);
    put32(e, (uint32_t)tid);
    put32(e + 8, (uint32_t)sig);
    put32(e + 12, (uint32_t)info->si_code);
    if (code_has_address(sig, info->si_code))
        put64(e + 24, (uint64_t)(uintptr_t)info->si_addr);
    put32(e + 160, MD_CONTEXT_SIZE);
    put32(e + 164, context_rva);
    align8();
    uint32_t rva = append(e, sizeof e);
    add_stream(MD_EXCEPTION_STREAM, rva, sizeof e);
}

/* ---- the file's life: unnamed until whole ---- */

static int open_dump(void) {
    if (!cg_expand_pattern(cg_config.minidump_pattern, name, sizeof name))
        return -1;
    /* The directory of the name, for the unnamed file. */
    static char dir[CG_PATH_MAX];
    cg_split_dir(name, sizeof name, dir);
    tmp_link[0] = 0;
    int fd = -1;
    if (cg_sys_access("/proc/self/fd", X_OK) == 0)
        fd = cg_sys_open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        char digits[24];
        size_t first = cg_format_udec(digits, (uint64_t)fd), n = 0;
        for (const char *p = "/proc/self/fd/"; *p;)
            tmp_link[n++] = *p++;
        for (size_t i = first; i < sizeof digits; i++)
            tmp_link[n++] = digits[i];
        tmp_link[n] = 0;
        return fd;
    }
    if (fd == -ENOENT || fd == -ENOTDIR)
        return -1; /* no such directory: nothing to fall back to */
    fd = cg_create_exclusive(name); /* no O_TMPFILE here (the file system, an old kernel) */
    return fd < 0 ? -1 : fd;
}

/* Gives the whole file its name, or leaves none; whether it has one. */
static int close_dump(void) {
    flush();
    int named = 0;
    if (tmp_link[0]) {
        /* linkat never replaces: a name that appeared meanwhile is kept, as O_EXCL would. */
        if (!f.failed)
            named = cg_sys_linkat(tmp_link, name, AT_SYMLINK_FOLLOW) == 0;
    } else if (f.failed) {
        cg_sys_unlink(name);
    } else {
        named = 1;
    }
    cg_sys_close(f.fd);
    return named;
}

const char *cg_write_minidump(int sig, const siginfo_t *info, void *ucontext, pid_t tid) {
    if (!cg_config.minidump_pattern[0])
        return 0;
    int saved_errno = errno;
    f.fd = open_dump();
    if (f.fd < 0) {
        errno = saved_errno;
        return 0;
    }
    f.failed = 0;
    f.len = 0;
    f.pos = 0;
    nranges = nthreads = nstreams = 0;
    private_lo = (uintptr_t)__libc_stack_end;
    private_hi = cg_config.main_stack_hi > private_lo ? cg_config.main_stack_hi : private_lo + (1u << 20);
    if (!private_lo)
        private_hi = 0;

    /* Header and directory, filled in last. */
    append(0, MD_HEADER_SIZE + sizeof directory);

    /* Threads: the crashing one first, then those that answered the report's request. */
    capture_thread_context(ucontext, &crashed);
    threads[nthreads++] = (struct md_thread){.tid = tid, .ctx = &crashed};
    const struct cg_thread_snapshot *snaps;
    int asked = collected_threads(&snaps);
    for (int i = 0; i < asked && nthreads < MAX_THREADS; i++)
        if (snaps[i].tid && snaps[i].answered)
            threads[nthreads++] = (struct md_thread){.tid = snaps[i].tid, .ctx = &snaps[i].context};
    for (int i = 0; i < nthreads; i++) {
        struct md_thread *t = &threads[i];
        t->context_rva = append_context(t->ctx);
        capture_stack(t, i == 0 ? STACK_CAP_CRASHED : STACK_CAP_OTHER);
        thread_name(t->tid, comm, sizeof comm);
        t->name_rva = append_string(comm, sizeof comm);
    }
    /* Around the crashing instruction, the fault address and every register that may point
     * somewhere: what a reader needs to see the data the crash touched. */
    const uint64_t *g = crashed.gregs;
    capture_window((uintptr_t)g[REG_RIP]);
    if (code_has_address(sig, info->si_code))
        capture_window((uintptr_t)info->si_addr);
    static const int pointers[] = {REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI, REG_RBP,
                                   REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};
    for (unsigned i = 0; i < sizeof pointers / sizeof pointers[0]; i++)
        capture_window((uintptr_t)g[pointers[i]]);

    write_thread_list();
    write_thread_names();
    write_module_list();
    write_memory_list();
    write_system_info();
    write_exception(sig, info, tid, threads[0].context_rva);
    write_file_stream(MD_LINUX_MAPS, "/proc/self/maps");
    write_file_stream(MD_LINUX_PROC_STATUS, "/proc/self/status");
    write_file_stream(MD_LINUX_AUXV, "/proc/self/auxv");
    write_file_stream(MD_LINUX_CMD_LINE, "/proc/self/cmdline");
    flush();

    /* The header and the directory, at the front. */
    static unsigned char header[MD_HEADER_SIZE];
    struct timespec now = {0, 0};
    cg_sys_clock_gettime(CLOCK_REALTIME, &now);
    put32(header, MD_SIGNATURE);
    put32(header + 4, MD_VERSION);
    put32(header + 8, (uint32_t)nstreams);
    put32(header + 12, MD_HEADER_SIZE);
    put32(header + 16, 0);
    put32(header + 20, (uint32_t)now.tv_sec);
    put64(header + 24, 0);
    if (!f.failed && (cg_sys_pwrite(f.fd, directory, sizeof directory, MD_HEADER_SIZE) != (long)sizeof directory ||
                      cg_sys_pwrite(f.fd, header, sizeof header, 0) != (long)sizeof header))
        f.failed = 1;
    int named = close_dump();
    errno = saved_errno;
    return named ? name : 0;
}
