//go:build ignore

/*
 * report.c — compose the report, text or JSON (docs/report.md, docs/report.schema.json).
 * Runs only on the one thread that claimed the report, so its large working areas are
 * static (the handler may run on a small alternate stack that the host installed, not ours).
 *
 * The crash is worked out once (report_prepare: registers, stack, diagnosis, signature,
 * message, context); then each destination gets a rendering of it (report_compose) under
 * its view: whether registers and raw addresses may go there (a privileged process's may
 * not go where its caller reads: docs/security.md), and a size bound.  Under a bound the
 * head and the crashing thread are always written; other threads are written whole while
 * they fit, each measured first (rendered into an out that only counts), with room kept for
 * what closes the report (modules, memory map, notes), so that a bounded report is still
 * whole — valid JSON — and says how much it left out.  A hard bound (the journal's datagram)
 * applies to the crashing thread's frames too.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <ucontext.h>

#include "context.h"
#include "crashguard.h"
#include "describe.h"
#include "lines.h"
#include "maps.h"
#include "memread.h"
#include "precompute.h"
#include "limits.h"
#include "signature.h"
#include "sinks.h"
#include "threads.h"
#include "symbols.h"
#include "sys.h"
#include "unwind.h"

/* The crash, worked out once for every rendering. */
static struct {
    int sig;
    const siginfo_t *info;
    const ucontext_t *uc;
    pid_t tid;
    struct cg_regs regs;
    const char *diagnosis;
    uint64_t signature;
    struct cg_signature_frame signature_frames[CG_SIGNATURE_FRAMES_MAX];
    int nsignature_frames;
} crash;
static struct cg_stack crash_stack;
static struct cg_reader crash_reader;

/* The other threads, asked once (the first rendering asks them, after its crashing thread
 * is out); every rendering shows the same answers. */
static int others_asked, others_total, others_blocked;
static const struct cg_thread_snapshot *others;

static void ask_other_threads(void) {
    if (others_asked)
        return;
    others_asked = 1;
    others_total = collect_other_threads(crash.tid, &others, &others_blocked);
}

/* Room kept under a bound for what is written after the last decision: the closing lines
 * or brackets, the counts of what was left out, a cut stack's last line. */
#define CLOSING_ROOM 1024
/* An address below this is an offset from NULL: it says nothing about the layout. */
#define NULL_PAGE_END 65536

#define MAX_TRACE_MODULES 64
static const struct cg_module *trace_modules[MAX_TRACE_MODULES];
static int trace_module_count;

static void note_module(const struct cg_module *m) {
    for (int i = 0; i < trace_module_count; i++)
        if (trace_modules[i] == m)
            return;
    if (trace_module_count < MAX_TRACE_MODULES)
        trace_modules[trace_module_count++] = m;
}

/* A module as the report names it: the executable by its resolved path. */
static const char *module_path(const struct cg_module *m) {
    return m == cg_module_at(0) ? cg_executable_path() : m->path;
}

static int bounded(const struct cg_report_view *v) { return v->cap != CG_UNBOUNDED; }

/* Whether n more bytes and then reserve fit under the view's bound. */
static int fits(const struct cg_out *o, const struct cg_report_view *v, size_t n, size_t reserve) {
    return !bounded(v) || o->total + n + reserve + CLOSING_ROOM <= v->cap;
}

static void out_thread_name(struct cg_out *o, pid_t tid) {
    char path[64] = "/proc/self/task/";
    size_t n = cg_strlen(path);
    char digits[16];
    int d = 0;
    for (unsigned v = (unsigned)tid; v || d == 0; v /= 10)
        digits[d++] = (char)('0' + v % 10);
    while (d)
        path[n++] = digits[--d];
    const char *tail = "/comm";
    while (*tail)
        path[n++] = *tail++;
    path[n] = 0;
    char name[32];
    long len = -1;
    int fd = cg_sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd >= 0) {
        do
            len = cg_sys_read(fd, name, sizeof name - 1);
        while (len == -EINTR);
        cg_sys_close(fd);
    }
    if (len <= 0) {
        out_str(o, "?");
        return;
    }
    while (len > 0 && name[len - 1] == '\n')
        len--;
    out_strn(o, name, (size_t)len);
}

static void thread_stack_bounds(pid_t tid, uintptr_t *lo, uintptr_t *hi) {
    if (cg_self.stack_hi) {
        *lo = cg_self.stack_lo;
        *hi = cg_self.stack_hi;
    } else if (tid == cg_config.main_tid) {
        *lo = cg_config.main_stack_lo;
        *hi = cg_config.main_stack_hi;
    } else {
        *lo = *hi = 0;
    }
}

static int is_stack_overflow(uintptr_t addr, uintptr_t sp, uintptr_t lo, uintptr_t hi) {
    /* In or just below the thread's guard region... */
    if (hi && addr < lo + cg_self.guard_size + 4096 && addr + (64u << 10) >= lo)
        return 1;
    /* ...or, bounds unknown, an unreadable address right at the stack pointer. */
    static struct cg_reader r;
    reader_init(&r);
    uintptr_t w;
    return addr + (64u << 10) >= sp && addr <= sp + 4096 && !read_word(&r, addr & ~(uintptr_t)7, &w);
}

static const char *diagnose(int sig, const siginfo_t *info, const struct cg_regs *regs,
                            uintptr_t lo, uintptr_t hi) {
    const char *d = 0;
    uintptr_t addr = (uintptr_t)info->si_addr;
    int code = info->si_code;
    if (code <= 0 || code == SI_KERNEL) {
        if (sig == SIGABRT && code == SI_TKILL && info->si_pid == cg_sys_getpid())
            d = "the program called abort() (failed assert, glibc heap check, std::terminate, "
                "or an explicit abort)";
        else if (code == SI_USER || code == SI_QUEUE || code == SI_TKILL)
            d = "the signal was sent by software, not raised by a faulting instruction";
        else if (code == SI_KERNEL && sig == SIGSEGV)
            d = "general protection fault: a non-canonical or privileged address (often a "
                "corrupted pointer)";
    } else if (sig == SIGSEGV || sig == SIGBUS) {
        if (addr == regs->r[CG_REG_PC] && addr < 4096)
            d = "call through a NULL function pointer";
        else if (addr == regs->r[CG_REG_PC] && code == SEGV_ACCERR)
            d = "execution of non-executable memory";
        else if (addr == regs->r[CG_REG_PC])
            d = "jump to an unmapped address (corrupted function pointer or return address)";
        else if (addr < 4096)
            d = "NULL-pointer dereference";
        else if (addr < 65536)
            d = "NULL-pointer dereference (at an offset from NULL: a field of a NULL struct "
                "pointer or an index into a NULL array)";
        else if (sig == SIGSEGV && is_stack_overflow(addr, regs->r[CG_REG_SP], lo, hi))
            d = "stack overflow (the fault address is in or just below the thread's stack "
                "guard; look for deep or infinite recursion)";
        else if (sig == SIGBUS && code == BUS_ADRERR)
            d = "access beyond the end of a memory-mapped file (the file was truncated), or "
                "a hardware memory error";
    } else if (sig == SIGFPE && code == FPE_INTDIV) {
        d = "integer division by zero";
    } else if (sig == SIGFPE && code == FPE_INTOVF) {
        d = "integer overflow in division (e.g. INT_MIN / -1)";
    } else if (sig == SIGILL) {
        d = "illegal instruction: a compiler-inserted trap (__builtin_trap, unreachable code), "
            "or code built for a newer CPU";
    } else if (sig == SIGTRAP) {
        d = "breakpoint trap (int3 / __builtin_debugtrap) with no debugger attached";
    } else if (sig == SIGSYS) {
        d = "a seccomp filter refused a system call";
    }
    return d;
}

static void out_registers(struct cg_out *o, const ucontext_t *uc) {
#if defined(__x86_64__)
    static const struct {
        const char *name;
        int reg;
    } regs[] = {
        {"rax", REG_RAX}, {"rbx", REG_RBX}, {"rcx", REG_RCX}, {"rdx", REG_RDX},
        {"rsi", REG_RSI}, {"rdi", REG_RDI}, {"rbp", REG_RBP}, {"rsp", REG_RSP},
        {"r8 ", REG_R8},  {"r9 ", REG_R9},  {"r10", REG_R10}, {"r11", REG_R11},
        {"r12", REG_R12}, {"r13", REG_R13}, {"r14", REG_R14}, {"r15", REG_R15},
        {"rip", REG_RIP}, {"efl", REG_EFL}, {"err", REG_ERR}, {"trp", REG_TRAPNO},
    };
    const int n = (int)(sizeof regs / sizeof regs[0]);
    for (int i = 0; i < n; i++) {
        out_str(o, "  ");
        out_str(o, regs[i].name);
        out_char(o, ' ');
        out_hex(o, (uint64_t)uc->uc_mcontext.gregs[regs[i].reg], 16);
        if (i % 4 == 3 || i == n - 1)
            out_char(o, '\n');
    }
#elif defined(__aarch64__)
    for (int i = 0; i < 31; i++) {
        out_str(o, "  x");
        out_udec(o, (uint64_t)i);
        out_str(o, i < 10 ? "  " : " ");
        out_hex(o, uc->uc_mcontext.regs[i], 16);
        if (i % 4 == 3)
            out_char(o, '\n');
    }
    out_str(o, "  sp  ");
    out_hex(o, uc->uc_mcontext.sp, 16);
    out_str(o, "  pc  ");
    out_hex(o, uc->uc_mcontext.pc, 16);
    out_char(o, '\n');
#endif
}

static void out_location(struct cg_out *o, const struct cg_location *loc) {
    if (!loc->file.len)
        return;
    out_str(o, " at ");
    out_strn(o, loc->file.s, loc->file.len);
    out_char(o, ':');
    out_udec(o, loc->line);
}

static void out_module_offset(struct cg_out *o, const struct cg_module *m, uintptr_t pc) {
    out_str(o, " (");
    out_str(o, module_path(m));
    out_char(o, '+');
    out_hex(o, pc - m->bias, 0);
    out_char(o, ')');
}

/* "#n 0x<pc> in ", or "#n in " where raw addresses are withheld. */
static void out_frame_start(struct cg_out *o, const struct cg_report_view *v, uint64_t *n, uintptr_t pc) {
    out_char(o, '#');
    out_udec(o, (*n)++);
    out_char(o, ' ');
    if (v->addresses) {
        out_hex(o, pc, 16);
        out_char(o, ' ');
    }
    out_str(o, "in ");
}

#define MAX_INLINE_DEPTH 32

/* One stack frame: first the calls inlined at its pc, innermost first, each marked
 * [inlined] and placed at the line the code came from; then the real function, placed at
 * the call site of the outermost inlined call (or at its own line). */
static void out_frame(struct cg_out *o, const struct cg_report_view *v, uint64_t *n, const struct cg_frame *f) {
    const struct cg_module *m = find_module(f->pc);
    if (m && !o->counting)
        note_module(m);
    if (f->how == CG_FRAME_SIGTRAMP || !m) {
        out_frame_start(o, v, n, f->pc);
        if (!m) {
            out_str(o, "?? (??)\n");
            return;
        }
        out_str(o, "<signal handler called>");
        out_module_offset(o, m, f->pc);
        out_char(o, '\n');
        return;
    }
    /* A return address points after the call; the call itself is at pc-1. */
    uintptr_t lookup = f->how == CG_FRAME_CONTEXT ? f->pc : f->pc - 1;
    uint64_t vaddr = lookup - m->bias;

    struct cg_location loc = {{0, 0}, 0};
    const struct cg_lines_header *lines = module_lines(m);
    if (lines) {
        find_line(lines, vaddr, &loc);
        uint32_t rec = find_inline(lines, vaddr);
        for (int depth = 0; rec != CG_NONE && depth < MAX_INLINE_DEPTH; depth++) {
            struct cg_str name;
            struct cg_location call_site;
            uint32_t parent;
            if (!inline_call(lines, rec, &name, &call_site, &parent))
                break;
            out_frame_start(o, v, n, f->pc);
            out_strn(o, name.s, name.len);
            out_str(o, " [inlined]");
            out_module_offset(o, m, f->pc);
            out_location(o, &loc);
            out_char(o, '\n');
            loc = call_site;
            rec = parent;
        }
    }

    out_frame_start(o, v, n, f->pc);
    uint64_t off = 0;
    size_t max = 0;
    const char *name = find_symbol(m, vaddr, &off, &max);
    if (name) {
        out_strn(o, name, cg_strnlen(name, max));
        out_char(o, '+');
        out_hex(o, off + (f->pc - lookup), 0);
    } else {
        out_str(o, "??");
    }
    out_module_offset(o, m, f->pc);
    out_location(o, &loc);
    if (f->how == CG_FRAME_GUESS)
        out_str(o, " [guessed: return address taken from the top of the stack]");
    out_char(o, '\n');
}

/* ---- measuring: what a piece would take, before it is written ---- */

static struct cg_out measure_out; /* counts only; 8 KiB: never on the stack */

static size_t trailer_size(const struct cg_report_view *v);

/* The closing part's size with the modules of one more frame or stack noted, as they will be
 * if that frame or stack is written. */
static size_t trailer_size_with(const struct cg_report_view *v, const struct cg_frame *f, const struct cg_stack *s) {
    int saved = trace_module_count;
    struct cg_frame g;
    const struct cg_module *m;
    if (f && (m = find_module(f->pc)))
        note_module(m);
    for (uint64_t i = 0; s && i < s->total; i++)
        if (stack_frame(s, i, &g) && (m = find_module(g.pc)))
            note_module(m);
    size_t size = trailer_size(v);
    trace_module_count = saved;
    return size;
}

static void out_stack_end(struct cg_out *o, const struct cg_report_view *v, const struct cg_stack *s,
                          uint64_t left_out) {
    if (left_out) {
        out_str(o, "    ... ");
        out_udec(o, left_out);
        out_str(o, left_out == 1 ? " frame" : " frames");
        out_str(o, " left out: the report is bounded to ");
        out_udec(o, v->cap);
        out_str(o, " bytes ...\n");
    }
    out_str(o, "(");
    out_udec(o, s->total);
    out_str(o, s->total == 1 ? " frame; " : " frames; ");
    out_str(o, s->end_reason);
    out_str(o, ")\n");
}

/* A stack's frames.  cut: under a hard bound, whole frames while they fit (the rest is
 * counted); otherwise all. */
static void out_backtrace(struct cg_out *o, const struct cg_report_view *v, const struct cg_stack *s, int cut) {
    struct cg_frame f;
    int elided = 0;
    uint64_t printed = 0, left_out = 0;
    for (uint64_t i = 0; i < s->total; i++) {
        if (stack_frame(s, i, &f)) {
            if (cut) {
                uint64_t n = printed;
                out_init_counting(&measure_out);
                out_frame(&measure_out, v, &n, &f);
                if (!fits(o, v, measure_out.total, trailer_size_with(v, &f, 0))) {
                    left_out = s->total - i;
                    break;
                }
            }
            out_frame(o, v, &printed, &f);
        } else if (!elided) {
            elided = 1;
            uint64_t kept = CG_STACK_HEAD + CG_STACK_TAIL;
            out_str(o, "    ... ");
            out_udec(o, s->total - kept);
            out_str(o, " frames omitted ...\n");
            printed += s->total - kept;
        }
    }
    out_stack_end(o, v, s, left_out);
}

static void out_thread_head(struct cg_out *o, pid_t tid) {
    out_str(o, "thread: tid ");
    out_dec(o, tid);
    out_str(o, " \"");
    out_thread_name(o, tid);
    out_str(o, tid == cg_sys_getpid() ? "\" (main thread)\n" : "\"\n");
}

static void out_other_thread(struct cg_out *o, const struct cg_report_view *v, const struct cg_thread_snapshot *t) {
    out_thread_head(o, t->tid);
    if (t->answered)
        out_backtrace(o, v, &t->stack, 0);
    else
        out_str(o, "  (did not answer within 300 ms)\n");
}

static void out_left_out_threads(struct cg_out *o, const struct cg_report_view *v, int left_out) {
    out_str(o, "  ");
    out_udec(o, (uint64_t)left_out);
    out_str(o, left_out == 1 ? " thread" : " threads");
    out_str(o, " left out: the report is bounded to ");
    out_udec(o, v->cap);
    out_str(o, " bytes\n");
}

static void out_other_threads(struct cg_out *o, const struct cg_report_view *v) {
    ask_other_threads();
    int total = others_total, blocked = others_blocked;
    if (total < 0) {
        out_str(o, "other threads: unknown (/proc/self/task unavailable)\n");
        return;
    }
    if (total == 0)
        return;
    out_str(o, "other threads (");
    out_udec(o, (uint64_t)total);
    out_str(o, "):\n");
    int listed = 0, left_out = 0;
    for (int i = 0; i < total - blocked && i < CG_MAX_OTHER_THREADS; i++) {
        const struct cg_thread_snapshot *t = &others[i];
        if (!t->tid)
            continue;
        if (bounded(v)) {
            out_init_counting(&measure_out);
            out_other_thread(&measure_out, v, t);
            size_t size = measure_out.total;
            if (!fits(o, v, size, trailer_size_with(v, 0, t->answered ? &t->stack : 0))) {
                left_out++;
                continue;
            }
        }
        listed++;
        out_other_thread(o, v, t);
    }
    if (blocked) {
        out_str(o, "  ");
        out_udec(o, (uint64_t)blocked);
        out_str(o, blocked == 1 ? " thread blocks" : " threads block");
        out_str(o, " the signal used to ask for backtraces (a host's signal-handling threads): "
                   "not shown\n");
    }
    if (total - blocked > listed + left_out) {
        out_str(o, "  ");
        out_udec(o, (uint64_t)(total - blocked - listed - left_out));
        out_str(o, " more threads not shown\n");
    }
    if (left_out)
        out_left_out_threads(o, v, left_out);
}

static void out_modules(struct cg_out *o, const struct cg_report_view *v) {
    out_str(o, "modules in the backtrace:\n");
    for (int i = 0; i < trace_module_count; i++) {
        const struct cg_module *m = trace_modules[i];
        out_str(o, "  ");
        out_str(o, module_path(m));
        if (v->addresses) {
            out_str(o, " base ");
            out_hex(o, m->bias, 0);
        }
        out_str(o, " build-id ");
        if (m->build_id_len)
            out_hexbytes(o, m->build_id, m->build_id_len);
        else
            out_str(o, "none");
        out_char(o, '\n');
    }
}

static const char *const table_words[CG_TABLE_KINDS] = {"no symbols", "no unwind table",
                                                         "no file:line"};

/* Why a frame has no name, line or trustworthy unwind: said once per module and table, so a
 * "??" is never unexplained. */
static void out_notes(struct cg_out *o) {
    int header = 0;
    for (int i = 0; i < trace_module_count; i++) {
        const struct cg_module *m = trace_modules[i];
        if (module_cache_corrupt(m)) {
            if (!header++)
                out_str(o, "notes:\n");
            out_str(o, "  module ");
            out_str(o, module_path(m));
            out_str(o, ": cache file corrupt (checksum mismatch): its tables were ignored and the "
                       "file removed, to be rebuilt at the next start\n");
            continue;
        }
        for (int kind = 0; kind < CG_TABLE_KINDS; kind++) {
            const struct cg_table_slot *t = &m->tables[kind];
            uint32_t state = atomic_load_explicit((_Atomic uint32_t *)&t->state, memory_order_acquire);
            if (state == CG_SYMTAB_READY || (state == CG_SYMTAB_PENDING && kind != CG_TABLE_SYMBOLS))
                continue;
            if (!header++)
                out_str(o, "notes:\n");
            out_str(o, "  module ");
            out_str(o, module_path(m));
            if (state == CG_SYMTAB_FAILED) {
                out_str(o, ": ");
                out_str(o, table_words[kind]);
                out_str(o, ": ");
                out_strn(o, t->note, cg_strnlen(t->note, CG_NOTE_MAX));
            } else {
                out_str(o, ": no tables: ");
                out_str(o, cg_why_no_tables(m));
            }
            out_char(o, '\n');
        }
    }
    /* An abort whose C++ exception could not be looked at. */
    if (crash.sig == SIGABRT && cg_report_setup.cxa_state == 2) {
        if (!header++)
            out_str(o, "notes:\n");
        out_str(o, "  C++ exception: not read: libstdc++'s exception state has no fixed place here "
                   "(loaded after start, or another C++ runtime's)\n");
    }
    if (storm_noted()) {
        if (!header++)
            out_str(o, "notes:\n");
        out_storm_note(o);
    }
    if (cg_config.config_note[0]) {
        if (!header++)
            out_str(o, "notes:\n");
        out_str(o, "  configuration: ");
        out_strn(o, cg_config.config_note, cg_strnlen(cg_config.config_note, CG_CONFIG_NOTE_MAX));
        out_char(o, '\n');
    }
}

/* ---- the memory map, read once ---- */

static char maps_text[32 * 1024];
static size_t maps_len;
static int maps_read;
static struct cg_out maps_out; /* 8 KiB: never on the stack */

static void read_maps_once(void) {
    if (maps_read)
        return;
    maps_read = 1;
    static uintptr_t map_addrs[CG_STACK_HEAD + 1];
    int naddrs = 0;
    map_addrs[naddrs++] = crash.regs.r[CG_REG_SP];
    struct cg_frame f;
    for (uint64_t i = 0; i < crash_stack.total && i < CG_STACK_HEAD; i++)
        if (stack_frame(&crash_stack, i, &f))
            map_addrs[naddrs++] = f.pc;
    out_init(&maps_out); /* no descriptor: it only captures */
    out_capture(&maps_out, maps_text, sizeof maps_text);
    write_relevant_maps(&maps_out, (uintptr_t)crash.info->si_addr, code_has_address(crash.sig, crash.info->si_code),
                        map_addrs, naddrs);
    out_flush(&maps_out);
    /* Whole lines only, if the buffer ran out. */
    maps_len = maps_out.captured;
    while (maps_len && maps_text[maps_len - 1] != '\n')
        maps_len--;
}

static void out_text_trailer(struct cg_out *o, const struct cg_report_view *v) {
    out_modules(o, v);
    if (v->addresses) {
        read_maps_once();
        out_strn(o, maps_text, maps_len);
    }
    out_notes(o);
    out_str(o, "*** end of crashguard report\n");
}

/* ---- the head: what every rendering has in full ---- */

static int fault_address_shown(const struct cg_report_view *v) {
    return code_has_address(crash.sig, crash.info->si_code) &&
           (v->addresses || (uintptr_t)crash.info->si_addr < NULL_PAGE_END);
}

struct tag_writer {
    struct cg_out *o;
    int n, json;
};

/* "k=v, k=v" in text, "k":"v","k":"v" in JSON. */
static void write_tag(void *arg, const char *k, size_t kn, const char *val, size_t vn) {
    struct tag_writer *w = arg;
    if (w->n++)
        out_str(w->o, w->json ? "," : ", ");
    if (w->json) {
        out_json_open(w->o);
        out_strn(w->o, k, kn);
        out_json_close(w->o);
        out_char(w->o, ':');
        out_json_open(w->o);
        out_strn(w->o, val, vn);
        out_json_close(w->o);
    } else {
        out_strn(w->o, k, kn);
        out_char(w->o, '=');
        out_strn(w->o, val, vn);
    }
}

static void out_context(struct cg_out *o) {
    const struct cg_crash_context *c = cg_context();
    out_str(o, "time: ");
    out_str(o, c->time);
    if (c->start[0]) {
        out_str(o, ", process started ");
        out_str(o, c->start);
    }
    out_str(o, "\nuser: uid ");
    out_udec(o, c->uid);
    out_str(o, " gid ");
    out_udec(o, c->gid);
    if (c->euid != c->uid || c->egid != c->gid) {
        out_str(o, " (effective uid ");
        out_udec(o, c->euid);
        out_str(o, " gid ");
        out_udec(o, c->egid);
        out_char(o, ')');
    }
    out_str(o, "\nhost: ");
    out_str(o, c->hostname[0] ? c->hostname : "?");
    out_str(o, ", kernel ");
    out_str(o, c->kernel[0] ? c->kernel : "?");
    out_str(o, ", boot id ");
    out_str(o, c->boot_id[0] ? c->boot_id : "?");
    out_str(o, "\ncgroup: ");
    out_str(o, c->cgroup[0] ? c->cgroup : "unknown");
    if (c->unit[0]) {
        out_str(o, ", unit ");
        out_str(o, c->unit);
    }
    if (c->user_unit[0]) {
        out_str(o, ", user unit ");
        out_str(o, c->user_unit);
    }
    out_char(o, '\n');
    if (c->container_id[0]) {
        out_str(o, "container: ");
        out_str(o, c->container_runtime ? c->container_runtime : "unknown runtime");
        out_char(o, ' ');
        out_str(o, c->container_id);
        out_char(o, '\n');
    }
    if (cg_report_setup.tags[0]) {
        struct tag_writer w = {o, 0, 0};
        out_str(o, "tags: ");
        cg_each_tag(write_tag, &w);
        out_char(o, '\n');
    }
}

/* What a view leaves out, in words. */
static void out_redacted(struct cg_out *o, const struct cg_report_view *v) {
    if (v->registers && v->addresses)
        return;
    out_str(o, "redacted: ");
    out_str(o, !v->registers && !v->addresses ? "registers, raw addresses and the memory map"
               : !v->registers               ? "registers"
                                             : "raw addresses and the memory map");
    out_str(o, " (");
    out_str(o, v->why);
    out_str(o, ")\n");
}

static void write_text_report(struct cg_out *o, const struct cg_report_view *v) {
    int sig = crash.sig;
    const siginfo_t *info = crash.info;
    out_str(o, "*** crashguard: ");
    out_str(o, signal_name(sig));
    out_str(o, " (");
    out_str(o, signal_words(sig));
    out_str(o, "), ");
    out_str(o, code_words(sig, info->si_code));
    out_str(o, " [si_code ");
    out_dec(o, info->si_code);
    out_str(o, "]");
    if (info->si_code == SI_USER || info->si_code == SI_TKILL || info->si_code == SI_QUEUE) {
        out_str(o, " from pid ");
        out_dec(o, info->si_pid);
        out_str(o, " uid ");
        out_udec(o, info->si_uid);
    }
    out_char(o, '\n');
    if (fault_address_shown(v)) {
        out_str(o, "fault address: ");
        out_hex(o, (uintptr_t)info->si_addr, 0);
        out_char(o, '\n');
    } else if (code_has_address(sig, info->si_code)) {
        out_str(o, "fault address: withheld\n");
    }
    if (sig == SIGSYS && info->si_code == 1) {
        out_str(o, "system call: ");
        out_dec(o, info->si_syscall);
        out_char(o, '\n');
    }
    if (crash.diagnosis) {
        out_str(o, "diagnosis: ");
        out_str(o, crash.diagnosis);
        out_char(o, '\n');
    }
    const struct cg_crash_message *msg = cg_message();
    if (msg->len) {
        out_str(o, "message: ");
        out_strn(o, msg->text, msg->len);
        out_char(o, '\n');
    }

    out_report_file_note(o);
    out_str(o, "process: pid ");
    out_dec(o, cg_sys_getpid());
    if (atomic_load_explicit(&cg_module_count, memory_order_acquire)) {
        out_str(o, ", executable ");
        out_str(o, cg_executable_path());
    }
    out_char(o, '\n');
    out_thread_head(o, crash.tid);
    out_str(o, "signature: ");
    out_hex(o, crash.signature, 16);
    out_char(o, '\n');
    out_context(o);
    out_redacted(o, v);

    if (v->registers) {
        out_str(o, "registers:\n");
        out_registers(o, crash.uc);
    }
    out_str(o, "backtrace:\n");
    out_backtrace(o, v, &crash_stack, v->hard);
    out_flush(o); /* the crashing thread's story is out before the others are asked */
    out_other_threads(o, v);
    out_text_trailer(o, v);
    out_flush(o);
}

/* ---- the JSON report: one object on one line (docs/report.schema.json) ---- */

static void json_str(struct cg_out *o, const char *s, size_t n) {
    out_json_open(o);
    out_strn(o, s, n);
    out_json_close(o);
}

static void json_cstr_or_null(struct cg_out *o, const char *s) {
    if (s && *s)
        json_str(o, s, cg_strlen(s));
    else
        out_str(o, "null");
}

static void json_hex(struct cg_out *o, uint64_t v) {
    out_char(o, '"');
    out_hex(o, v, 0);
    out_char(o, '"');
}

static void json_location(struct cg_out *o, const struct cg_location *loc) {
    out_str(o, ",\"file\":");
    if (loc->file.len)
        json_str(o, loc->file.s, loc->file.len);
    else
        out_str(o, "null");
    out_str(o, ",\"line\":");
    if (loc->file.len)
        out_udec(o, loc->line);
    else
        out_str(o, "null");
}

static const char *const how_words[] = {"context", "caller", "frame-pointer", "guessed",
                                        "signal-trampoline"};

static void json_frame(struct cg_out *o, const struct cg_report_view *v, const struct cg_frame *f) {
    const struct cg_module *m = find_module(f->pc);
    out_str(o, "{\"pc\":");
    if (v->addresses)
        json_hex(o, f->pc);
    else
        out_str(o, "null");
    out_str(o, ",\"how\":\"");
    out_str(o, how_words[f->how < 5 ? f->how : 0]);
    out_str(o, "\",\"module\":");
    if (!m) {
        out_str(o, "null,\"build_id\":null,\"module_offset\":null,\"function\":null,"
                   "\"function_offset\":null,\"file\":null,\"line\":null,\"inlined\":[]}");
        return;
    }
    if (!o->counting)
        note_module(m);
    json_str(o, module_path(m), cg_strlen(module_path(m)));
    out_str(o, ",\"build_id\":");
    if (m->build_id_len) {
        out_char(o, '"');
        out_hexbytes(o, m->build_id, m->build_id_len);
        out_char(o, '"');
    } else {
        out_str(o, "null");
    }
    out_str(o, ",\"module_offset\":");
    json_hex(o, f->pc - m->bias);
    uintptr_t lookup = f->how == CG_FRAME_CONTEXT ? f->pc : f->pc - 1;
    uint64_t vaddr = lookup - m->bias, off = 0;
    size_t max = 0;
    const char *name = f->how == CG_FRAME_SIGTRAMP ? 0 : find_symbol(m, vaddr, &off, &max);
    out_str(o, ",\"function\":");
    if (name)
        json_str(o, name, cg_strnlen(name, max));
    else
        out_str(o, "null");
    out_str(o, ",\"function_offset\":");
    if (name)
        json_hex(o, off + (f->pc - lookup));
    else
        out_str(o, "null");
    /* Inlined calls innermost first; the frame's own location is the outermost call site. */
    struct cg_location loc = {{0, 0}, 0};
    const struct cg_lines_header *lines = f->how == CG_FRAME_SIGTRAMP ? 0 : module_lines(m);
    static char inl[4096];
    static struct cg_out inl_out; /* 8 KiB: never on the stack */
    out_init(&inl_out);
    out_capture(&inl_out, inl, sizeof inl);
    if (lines) {
        find_line(lines, vaddr, &loc);
        uint32_t rec = find_inline(lines, vaddr);
        for (int depth = 0; rec != CG_NONE && depth < MAX_INLINE_DEPTH; depth++) {
            struct cg_str fn;
            struct cg_location call_site;
            uint32_t parent;
            if (!inline_call(lines, rec, &fn, &call_site, &parent))
                break;
            /* Whole entries only: a cut one would break the JSON. */
            size_t before = inl_out.captured;
            if (depth)
                out_char(&inl_out, ',');
            out_str(&inl_out, "{\"function\":");
            json_str(&inl_out, fn.s, fn.len);
            json_location(&inl_out, &loc);
            out_char(&inl_out, '}');
            if (inl_out.total > sizeof inl) {
                inl_out.captured = before;
                break;
            }
            loc = call_site;
            rec = parent;
        }
    }
    json_location(o, &loc);
    out_str(o, ",\"inlined\":[");
    out_strn(o, inl, inl_out.captured);
    out_str(o, "]}");
}

/* A stack's frames, frames_left_out, frames_total and walk_end.  cut: as out_backtrace. */
static void json_stack(struct cg_out *o, const struct cg_report_view *v, const struct cg_stack *s, int cut) {
    out_str(o, ",\"frames\":[");
    struct cg_frame f;
    int first = 1;
    uint64_t left_out = 0;
    for (uint64_t i = 0; i < s->total; i++) {
        if (!stack_frame(s, i, &f))
            continue;
        if (cut) {
            out_init_counting(&measure_out);
            json_frame(&measure_out, v, &f);
            if (!fits(o, v, measure_out.total + 1, trailer_size_with(v, &f, 0))) {
                left_out = s->total - i;
                break;
            }
        }
        if (!first)
            out_char(o, ',');
        first = 0;
        json_frame(o, v, &f);
    }
    out_str(o, "],\"frames_left_out\":");
    out_udec(o, left_out);
    out_str(o, ",\"frames_total\":");
    out_udec(o, s->total);
    out_str(o, ",\"walk_end\":");
    json_str(o, s->end_reason, cg_strlen(s->end_reason));
}

static void json_thread_head(struct cg_out *o, pid_t tid, int crashing) {
    out_str(o, "{\"tid\":");
    out_dec(o, tid);
    out_str(o, ",\"name\":");
    out_json_open(o);
    out_thread_name(o, tid);
    out_json_close(o);
    out_str(o, tid == cg_sys_getpid() ? ",\"main\":true" : ",\"main\":false");
    out_str(o, crashing ? ",\"crashing\":true" : ",\"crashing\":false");
}

static void json_registers(struct cg_out *o, const ucontext_t *uc) {
    out_str(o, ",\"registers\":{");
#if defined(__x86_64__)
    static const struct {
        const char *name;
        int reg;
    } regs[] = {
        {"rax", REG_RAX}, {"rbx", REG_RBX}, {"rcx", REG_RCX}, {"rdx", REG_RDX}, {"rsi", REG_RSI},
        {"rdi", REG_RDI}, {"rbp", REG_RBP}, {"rsp", REG_RSP}, {"r8", REG_R8},   {"r9", REG_R9},
        {"r10", REG_R10}, {"r11", REG_R11}, {"r12", REG_R12}, {"r13", REG_R13}, {"r14", REG_R14},
        {"r15", REG_R15}, {"rip", REG_RIP}, {"eflags", REG_EFL}, {"err", REG_ERR}, {"trapno", REG_TRAPNO},
    };
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        if (i)
            out_char(o, ',');
        out_json_key(o, regs[i].name);
        json_hex(o, (uint64_t)uc->uc_mcontext.gregs[regs[i].reg]);
    }
#endif
    out_char(o, '}');
}

static void json_other_thread(struct cg_out *o, const struct cg_report_view *v, const struct cg_thread_snapshot *t) {
    out_char(o, ',');
    json_thread_head(o, t->tid, 0);
    json_stack(o, v, &t->stack, 0);
    out_char(o, '}');
}

static void json_module(struct cg_out *o, const struct cg_report_view *v, const struct cg_module *m, int first) {
    out_str(o, first ? "{\"path\":" : ",{\"path\":");
    json_str(o, module_path(m), cg_strlen(module_path(m)));
    out_str(o, ",\"base\":");
    if (v->addresses)
        json_hex(o, m->bias);
    else
        out_str(o, "null");
    out_str(o, ",\"build_id\":");
    if (m->build_id_len) {
        out_char(o, '"');
        out_hexbytes(o, m->build_id, m->build_id_len);
        out_char(o, '"');
    } else {
        out_str(o, "null");
    }
    out_char(o, '}');
}

/* The modules and notes: what closes a JSON report. */
static void json_trailer(struct cg_out *o, const struct cg_report_view *v) {
    out_str(o, ",\"modules\":[");
    for (int i = 0; i < trace_module_count; i++)
        json_module(o, v, trace_modules[i], i == 0);
    /* The notes, as the text report words them, one string each. */
    static char notes[4096];
    static struct cg_out note_out; /* 8 KiB: never on the stack */
    out_init(&note_out);
    out_capture(&note_out, notes, sizeof notes);
    out_notes(&note_out);
    out_str(o, "],\"notes\":[");
    int first = 1;
    for (size_t start = 0, i = 0; i < note_out.captured; i++) {
        if (notes[i] != '\n')
            continue;
        const char *line = notes + start;
        size_t len = i - start;
        start = i + 1;
        while (len && *line == ' ')
            line++, len--;
        if (!len || (len == 6 && line[0] == 'n' && line[5] == ':'))
            continue; /* the "notes:" heading */
        if (!first)
            out_char(o, ',');
        first = 0;
        json_str(o, line, len);
    }
    out_str(o, "]}\n");
}

static size_t trailer_size(const struct cg_report_view *v) {
    static struct cg_out trailer_out; /* not measure_out: a frame may be being measured */
    out_init_counting(&trailer_out);
    if (cg_config.json)
        json_trailer(&trailer_out, v);
    else
        out_text_trailer(&trailer_out, v);
    return trailer_out.total;
}

static void json_context(struct cg_out *o) {
    const struct cg_crash_context *c = cg_context();
    out_str(o, ",\"context\":{\"time\":");
    json_cstr_or_null(o, c->time);
    out_str(o, ",\"process_start\":");
    json_cstr_or_null(o, c->start);
    out_str(o, ",\"uid\":");
    out_udec(o, c->uid);
    out_str(o, ",\"gid\":");
    out_udec(o, c->gid);
    out_str(o, ",\"euid\":");
    out_udec(o, c->euid);
    out_str(o, ",\"egid\":");
    out_udec(o, c->egid);
    out_str(o, ",\"hostname\":");
    json_cstr_or_null(o, c->hostname);
    out_str(o, ",\"kernel\":");
    json_cstr_or_null(o, c->kernel);
    out_str(o, ",\"boot_id\":");
    json_cstr_or_null(o, c->boot_id);
    out_str(o, ",\"cgroup\":");
    json_cstr_or_null(o, c->cgroup);
    out_str(o, ",\"unit\":");
    json_cstr_or_null(o, c->unit);
    out_str(o, ",\"user_unit\":");
    json_cstr_or_null(o, c->user_unit);
    out_str(o, ",\"container\":");
    if (c->container_id[0]) {
        out_str(o, "{\"runtime\":");
        json_cstr_or_null(o, c->container_runtime);
        out_str(o, ",\"id\":");
        json_cstr_or_null(o, c->container_id);
        out_char(o, '}');
    } else {
        out_str(o, "null");
    }
    out_str(o, ",\"tags\":{");
    struct tag_writer w = {o, 0, 1};
    cg_each_tag(write_tag, &w);
    out_str(o, "}}");
}

static void json_message(struct cg_out *o) {
    const struct cg_crash_message *msg = cg_message();
    out_str(o, ",\"message\":");
    if (msg->len)
        json_str(o, msg->text, msg->len);
    else
        out_str(o, "null");
    out_str(o, ",\"exception\":");
    if (!msg->exception) {
        out_str(o, "null");
        return;
    }
    out_str(o, "{\"type\":");
    json_cstr_or_null(o, msg->type);
    out_str(o, ",\"mangled_type\":");
    json_cstr_or_null(o, msg->mangled);
    out_str(o, ",\"what\":");
    if (msg->what_read)
        json_str(o, msg->what, msg->what_len);
    else
        out_str(o, "null");
    out_str(o, msg->what_cut ? ",\"what_cut\":true" : ",\"what_cut\":false");
    out_str(o, ",\"what_note\":");
    json_cstr_or_null(o, msg->what_read ? 0 : msg->what_note);
    out_char(o, '}');
}

static void json_signature_frames(struct cg_out *o) {
    out_str(o, ",\"signature_frames\":[");
    for (int i = 0; i < crash.nsignature_frames; i++) {
        const struct cg_signature_frame *c = &crash.signature_frames[i];
        if (i)
            out_char(o, ',');
        out_json_open(o);
        if (!c->module) {
            out_str(o, "??");
        } else {
            out_str(o, cg_module_name(c->module));
            out_char(o, '!');
            if (c->name) {
                out_strn(o, c->name, c->name_len);
            } else {
                out_char(o, '+');
                out_hex(o, c->offset, 0);
            }
        }
        out_json_close(o);
    }
    out_char(o, ']');
}

static void json_redacted(struct cg_out *o, const struct cg_report_view *v) {
    out_str(o, ",\"redacted\":[");
    if (!v->registers)
        out_str(o, v->addresses ? "\"registers\"" : "\"registers\",");
    if (!v->addresses)
        out_str(o, "\"addresses\"");
    out_str(o, "],\"redacted_why\":");
    json_cstr_or_null(o, v->registers && v->addresses ? 0 : v->why);
}

static void write_json_report(struct cg_out *o, const struct cg_report_view *v) {
    int sig = crash.sig;
    const siginfo_t *info = crash.info;
    out_str(o, "{\"crashguard_report\":1,\"signal\":\"");
    out_str(o, signal_name(sig));
    out_str(o, "\",\"signal_number\":");
    out_dec(o, sig);
    out_str(o, ",\"code\":");
    out_dec(o, info->si_code);
    out_str(o, ",\"code_text\":");
    json_str(o, code_words(sig, info->si_code), cg_strlen(code_words(sig, info->si_code)));
    out_str(o, ",\"fault_address\":");
    if (fault_address_shown(v))
        json_hex(o, (uintptr_t)info->si_addr);
    else
        out_str(o, "null");
    out_str(o, ",\"diagnosis\":");
    json_cstr_or_null(o, crash.diagnosis);
    json_message(o);
    out_str(o, ",\"signature\":");
    out_char(o, '"');
    out_hex(o, crash.signature, 16);
    out_char(o, '"');
    json_signature_frames(o);
    out_str(o, ",\"pid\":");
    out_dec(o, cg_sys_getpid());
    out_str(o, ",\"executable\":");
    if (atomic_load_explicit(&cg_module_count, memory_order_acquire))
        json_str(o, cg_executable_path(), cg_strlen(cg_executable_path()));
    else
        out_str(o, "null");
    json_context(o);
    json_redacted(o, v);

    out_str(o, ",\"threads\":[");
    json_thread_head(o, crash.tid, 1);
    if (v->registers)
        json_registers(o, crash.uc);
    json_stack(o, v, &crash_stack, v->hard);
    out_char(o, '}');
    out_flush(o);
    ask_other_threads();
    int left_out = 0;
    for (int i = 0; others_total > 0 && i < others_total - others_blocked && i < CG_MAX_OTHER_THREADS; i++) {
        const struct cg_thread_snapshot *t = &others[i];
        if (!t->tid || !t->answered)
            continue;
        if (bounded(v)) {
            out_init_counting(&measure_out);
            json_other_thread(&measure_out, v, t);
            if (!fits(o, v, measure_out.total, trailer_size_with(v, 0, &t->stack))) {
                left_out++;
                continue;
            }
        }
        json_other_thread(o, v, t);
    }
    out_str(o, "],\"threads_left_out\":");
    out_udec(o, (uint64_t)left_out);
    json_trailer(o, v);
    out_flush(o);
}

/* ---- preparing and composing ---- */

/* The stack the crash happened on, for the unwinder: the thread's, or — a fault inside a
 * program's handler that runs on an alternate stack of its own, from the heap (LLVM's,
 * Python's faulthandler) — the thread's alternate stack, when the crash's stack pointer is in
 * it (not SS_ONSTACK: the kernel judges that by the stack pointer of the call, and we ask from
 * the report's own stack).  Its signal frame then leads the unwinder back to the thread's
 * stack, where bounds no longer apply (unwind.c).  Neither: unknown (0, 0), each step then
 * checked against the stack pointer. */
static void crash_stack_bounds(uintptr_t sp, uintptr_t thread_lo, uintptr_t thread_hi, uintptr_t *lo, uintptr_t *hi) {
    *lo = thread_lo;
    *hi = thread_hi;
    if (!thread_hi || (sp >= thread_lo && sp < thread_hi))
        return;
    stack_t alt;
    *lo = *hi = 0;
    if (cg_sys_sigaltstack_query(&alt) == 0 && !(alt.ss_flags & SS_DISABLE) &&
        sp >= (uintptr_t)alt.ss_sp && sp - (uintptr_t)alt.ss_sp < alt.ss_size) {
        *lo = (uintptr_t)alt.ss_sp;
        *hi = *lo + alt.ss_size;
    }
}

void report_prepare(int sig, const siginfo_t *info, void *ucontext, pid_t tid) {
    uintptr_t lo, hi, unwind_lo, unwind_hi;
    crash.sig = sig;
    crash.info = info;
    crash.uc = ucontext;
    crash.tid = tid;
    others_asked = 0;
    maps_read = 0;
    regs_from_context(crash.uc, &crash.regs);
    thread_stack_bounds(tid, &lo, &hi);
    crash_stack_bounds(crash.regs.r[CG_REG_SP], lo, hi, &unwind_lo, &unwind_hi);
    reader_init(&crash_reader);
    unwind_stack(&crash.regs, unwind_lo, unwind_hi, &crash_reader, &crash_stack);
    crash.diagnosis = diagnose(sig, info, &crash.regs, lo, hi);
    cg_read_message(sig);
    cg_gather_context();
    const struct cg_crash_message *msg = cg_message();
    crash.signature = cg_crash_signature(&crash_stack, signal_name(sig), msg->exception ? msg->mangled : 0,
                                         crash.signature_frames, &crash.nsignature_frames);
}

void report_compose(struct cg_out *o, const struct cg_report_view *v) {
    trace_module_count = 0;
    if (cg_config.json)
        write_json_report(o, v);
    else
        write_text_report(o, v);
}

int report_privileged(void) { return cg_context()->privileged; }
const char *last_report_diagnosis(void) { return crash.diagnosis; }
uint64_t last_report_signature(void) { return crash.signature; }
