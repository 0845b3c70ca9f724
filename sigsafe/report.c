//go:build ignore

/*
 * report.c — compose the text report.  Runs only on the one thread that claimed the report,
 * so its large working areas are static (the handler may run on a small alternate stack
 * that the host installed, not ours).
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <ucontext.h>

#include "crashguard.h"
#include "describe.h"
#include "lines.h"
#include "maps.h"
#include "memread.h"
#include "precompute.h"
#include "sinks.h"
#include "threads.h"
#include "symbols.h"
#include "sys.h"
#include "unwind.h"

static struct cg_stack crash_stack;
/* Facts of the last report, for sinks that want them as fields (the journal). */
static const char *report_diagnosis;
static uint64_t report_signature;
static struct cg_reader crash_reader;

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

/* /proc may be unmounted or the descriptor table full: the name is then "?". */
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

static void out_diagnosis(struct cg_out *o) {
    if (report_diagnosis) {
        out_str(o, "diagnosis: ");
        out_str(o, report_diagnosis);
        out_char(o, '\n');
    }
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
        out_str(o, i % 4 == 0 ? "  " : "  ");
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
    out_str(o, m->path);
    out_char(o, '+');
    out_hex(o, pc - m->bias, 0);
    out_char(o, ')');
}

static void out_frame_start(struct cg_out *o, uint64_t *n, uintptr_t pc) {
    out_char(o, '#');
    out_udec(o, (*n)++);
    out_char(o, ' ');
    out_hex(o, pc, 16);
    out_str(o, " in ");
}

#define MAX_INLINE_DEPTH 32

/* One stack frame: first the calls inlined at its pc, innermost first, each marked
 * [inlined] and placed at the line the code came from; then the real function, placed at
 * the call site of the outermost inlined call (or at its own line). */
static void out_frame(struct cg_out *o, uint64_t *n, const struct cg_frame *f) {
    const struct cg_module *m = find_module(f->pc);
    if (f->how == CG_FRAME_SIGTRAMP || !m) {
        out_frame_start(o, n, f->pc);
        if (!m) {
            out_str(o, "?? (??)\n");
            return;
        }
        note_module(m);
        out_str(o, "<signal handler called>");
        out_module_offset(o, m, f->pc);
        out_char(o, '\n');
        return;
    }
    note_module(m);
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
            out_frame_start(o, n, f->pc);
            out_strn(o, name.s, name.len);
            out_str(o, " [inlined]");
            out_module_offset(o, m, f->pc);
            out_location(o, &loc);
            out_char(o, '\n');
            loc = call_site;
            rec = parent;
        }
    }

    out_frame_start(o, n, f->pc);
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

static void out_backtrace(struct cg_out *o, const struct cg_stack *s) {
    struct cg_frame f;
    int elided = 0;
    uint64_t printed = 0;
    for (uint64_t i = 0; i < s->total; i++) {
        if (stack_frame(s, i, &f)) {
            out_frame(o, &printed, &f);
        } else if (!elided) {
            elided = 1;
            uint64_t kept = CG_STACK_HEAD + CG_STACK_TAIL;
            out_str(o, "    ... ");
            out_udec(o, s->total - kept);
            out_str(o, " frames omitted ...\n");
            printed += s->total - kept;
        }
    }
    out_str(o, "(");
    out_udec(o, s->total);
    out_str(o, s->total == 1 ? " frame; " : " frames; ");
    out_str(o, s->end_reason);
    out_str(o, ")\n");
}

static void out_other_threads(struct cg_out *o, pid_t self) {
    const struct cg_thread_snapshot *snaps;
    int blocked;
    int total = collect_other_threads(self, &snaps, &blocked);
    if (total < 0) {
        out_str(o, "other threads: unknown (/proc/self/task unavailable)\n");
        return;
    }
    if (total == 0)
        return;
    out_str(o, "other threads (");
    out_udec(o, (uint64_t)total);
    out_str(o, "):\n");
    int listed = 0;
    for (int i = 0; i < total - blocked && i < CG_MAX_OTHER_THREADS; i++) {
        const struct cg_thread_snapshot *t = &snaps[i];
        if (!t->tid)
            continue;
        listed++;
        out_str(o, "thread: tid ");
        out_dec(o, t->tid);
        out_str(o, " \"");
        out_thread_name(o, t->tid);
        out_str(o, t->tid == cg_sys_getpid() ? "\" (main thread)\n" : "\"\n");
        if (t->answered)
            out_backtrace(o, &t->stack);
        else
            out_str(o, "  (did not answer within 300 ms)\n");
    }
    if (blocked) {
        out_str(o, "  ");
        out_udec(o, (uint64_t)blocked);
        out_str(o, blocked == 1 ? " thread blocks" : " threads block");
        out_str(o, " the signal used to ask for backtraces (a host's signal-handling threads): "
                   "not shown\n");
    }
    if (total - blocked > listed) {
        out_str(o, "  ");
        out_udec(o, (uint64_t)(total - blocked - listed));
        out_str(o, " more threads not shown\n");
    }
}

static void out_modules(struct cg_out *o) {
    out_str(o, "modules in the backtrace:\n");
    for (int i = 0; i < trace_module_count; i++) {
        const struct cg_module *m = trace_modules[i];
        out_str(o, "  ");
        out_str(o, m->path);
        out_str(o, " base ");
        out_hex(o, m->bias, 0);
        out_str(o, " build-id ");
        if (m->build_id_len)
            out_hexbytes(o, m->build_id, m->build_id_len);
        else
            out_str(o, "none");
        out_char(o, '\n');
    }
}

/* A short, stable name for the bug: FNV-1a over the innermost frames' function names (or
 * module file name + offset when unnamed), so the same crash groups together across hosts,
 * addresses and log pipelines.  Offsets inside functions are left out: they change with
 * every rebuild. */
#define SIGNATURE_FRAMES 5

static void hash_bytes(uint64_t *h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        *h ^= (unsigned char)p[i];
        *h *= 0x100000001b3ull;
    }
}

static uint64_t crash_signature(const struct cg_stack *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    struct cg_frame f;
    for (uint64_t i = 0; i < s->total && i < SIGNATURE_FRAMES && stack_frame(s, i, &f); i++) {
        const struct cg_module *m = find_module(f.pc);
        uintptr_t lookup = f.how == CG_FRAME_CONTEXT ? f.pc : f.pc - 1;
        uint64_t off = 0;
        size_t max = 0;
        const char *name = m ? find_symbol(m, lookup - m->bias, &off, &max) : 0;
        if (name) {
            hash_bytes(&h, name, cg_strnlen(name, max));
        } else if (m) {
            const char *base = m->path;
            for (const char *p = m->path; *p; p++)
                if (*p == '/')
                    base = p + 1;
            hash_bytes(&h, base, cg_strlen(base));
            uint64_t mod_off = f.pc - m->bias;
            hash_bytes(&h, (const char *)&mod_off, sizeof mod_off);
        } else {
            hash_bytes(&h, "??", 2);
        }
        hash_bytes(&h, "\n", 1);
    }
    return h;
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
            out_str(o, m->path);
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
            out_str(o, m->path);
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
    if (cg_config.config_note[0]) {
        if (!header++)
            out_str(o, "notes:\n");
        out_str(o, "  configuration: ");
        out_strn(o, cg_config.config_note, cg_strnlen(cg_config.config_note, CG_CONFIG_NOTE_MAX));
        out_char(o, '\n');
    }
}

/* What both formats report, worked out once: the registers, the unwound stack, the
 * signature and the diagnosis. */
static void analyze_crash(int sig, const siginfo_t *info, const ucontext_t *uc, pid_t tid,
                          struct cg_regs *regs) {
    uintptr_t lo, hi;
    regs_from_context(uc, regs);
    thread_stack_bounds(tid, &lo, &hi);
    trace_module_count = 0;
    reader_init(&crash_reader);
    unwind_stack(regs, lo, hi, &crash_reader, &crash_stack);
    report_signature = crash_signature(&crash_stack);
    report_diagnosis = diagnose(sig, info, regs, lo, hi);
}

static void write_text_report(struct cg_out *o, int sig, const siginfo_t *info, void *ucontext,
                              pid_t tid) {
    const ucontext_t *uc = ucontext;
    struct cg_regs regs;
    analyze_crash(sig, info, uc, tid, &regs);

    out_str(o, "\n*** crashguard: ");
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
    if (code_has_address(sig, info->si_code)) {
        out_str(o, "fault address: ");
        out_hex(o, (uintptr_t)info->si_addr, 0);
        out_char(o, '\n');
    }
    if (sig == SIGSYS && info->si_code == 1) {
        out_str(o, "system call: ");
        out_dec(o, info->si_syscall);
        out_char(o, '\n');
    }
    out_diagnosis(o);

    out_report_file_note(o);
    out_str(o, "process: pid ");
    out_dec(o, cg_sys_getpid());
    uint32_t nmod = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    if (nmod) {
        out_str(o, ", executable ");
        out_str(o, cg_executable_path());
    }
    out_str(o, "\nthread: tid ");
    out_dec(o, tid);
    out_str(o, " \"");
    out_thread_name(o, tid);
    out_str(o, tid == cg_sys_getpid() ? "\" (main thread)\n" : "\"\n");

    out_str(o, "signature: ");
    out_hex(o, report_signature, 16);
    out_char(o, '\n');

    out_str(o, "registers:\n");
    out_registers(o, uc);
    out_str(o, "backtrace:\n");
    out_backtrace(o, &crash_stack);
    out_flush(o); /* the crashing thread's story is out before the others are asked */
    out_other_threads(o, tid);
    out_modules(o);
    static uintptr_t map_addrs[CG_STACK_HEAD + 1];
    int naddrs = 0;
    map_addrs[naddrs++] = regs.r[CG_REG_SP];
    struct cg_frame f;
    for (uint64_t i = 0; i < crash_stack.total && i < CG_STACK_HEAD; i++)
        if (stack_frame(&crash_stack, i, &f))
            map_addrs[naddrs++] = f.pc;
    write_relevant_maps(o, (uintptr_t)info->si_addr, code_has_address(sig, info->si_code), map_addrs,
                        naddrs);
    out_notes(o);
    out_str(o, "*** end of crashguard report\n");
    out_flush(o);
}

const char *last_report_diagnosis(void) { return report_diagnosis; }
uint64_t last_report_signature(void) { return report_signature; }

/* ---- the JSON report: one object on one line (docs/report.schema.json) ---- */

static void json_str(struct cg_out *o, const char *s, size_t n) {
    out_json_open(o);
    out_strn(o, s, n);
    out_json_close(o);
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

static void json_frame(struct cg_out *o, const struct cg_frame *f) {
    const struct cg_module *m = find_module(f->pc);
    out_str(o, "{\"pc\":");
    json_hex(o, f->pc);
    out_str(o, ",\"how\":\"");
    out_str(o, how_words[f->how < 5 ? f->how : 0]);
    out_str(o, "\",\"module\":");
    if (!m) {
        out_str(o, "null,\"build_id\":null,\"module_offset\":null,\"function\":null,"
                   "\"function_offset\":null,\"file\":null,\"line\":null,\"inlined\":[]}");
        return;
    }
    note_module(m);
    json_str(o, m->path, cg_strlen(m->path));
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
            if (depth)
                out_char(&inl_out, ',');
            out_str(&inl_out, "{\"function\":");
            json_str(&inl_out, fn.s, fn.len);
            json_location(&inl_out, &loc);
            out_char(&inl_out, '}');
            loc = call_site;
            rec = parent;
        }
    }
    json_location(o, &loc);
    out_str(o, ",\"inlined\":[");
    out_strn(o, inl, inl_out.captured);
    out_str(o, "]}");
}

static void json_stack(struct cg_out *o, const struct cg_stack *s) {
    out_str(o, ",\"frames\":[");
    struct cg_frame f;
    int first = 1;
    for (uint64_t i = 0; i < s->total; i++) {
        if (!stack_frame(s, i, &f))
            continue;
        if (!first)
            out_char(o, ',');
        first = 0;
        json_frame(o, &f);
    }
    out_str(o, "],\"frames_total\":");
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

static void write_json_report(struct cg_out *o, int sig, const siginfo_t *info, void *ucontext,
                              pid_t tid) {
    const ucontext_t *uc = ucontext;
    struct cg_regs regs;
    analyze_crash(sig, info, uc, tid, &regs);

    out_str(o, "{\"crashguard_report\":1,\"signal\":\"");
    out_str(o, signal_name(sig));
    out_str(o, "\",\"signal_number\":");
    out_dec(o, sig);
    out_str(o, ",\"code\":");
    out_dec(o, info->si_code);
    out_str(o, ",\"code_text\":");
    json_str(o, code_words(sig, info->si_code), cg_strlen(code_words(sig, info->si_code)));
    out_str(o, ",\"fault_address\":");
    if (code_has_address(sig, info->si_code))
        json_hex(o, (uintptr_t)info->si_addr);
    else
        out_str(o, "null");
    out_str(o, ",\"diagnosis\":");
    if (report_diagnosis)
        json_str(o, report_diagnosis, cg_strlen(report_diagnosis));
    else
        out_str(o, "null");
    out_str(o, ",\"signature\":");
    json_hex(o, report_signature);
    out_str(o, ",\"pid\":");
    out_dec(o, cg_sys_getpid());
    out_str(o, ",\"executable\":");
    if (atomic_load_explicit(&cg_module_count, memory_order_acquire))
        json_str(o, cg_executable_path(), cg_strlen(cg_executable_path()));
    else
        out_str(o, "null");

    out_str(o, ",\"threads\":[");
    json_thread_head(o, tid, 1);
    json_registers(o, uc);
    json_stack(o, &crash_stack);
    out_char(o, '}');
    out_flush(o);
    const struct cg_thread_snapshot *snaps;
    int blocked, total = collect_other_threads(tid, &snaps, &blocked);
    for (int i = 0; total > 0 && i < total - blocked && i < CG_MAX_OTHER_THREADS; i++) {
        if (!snaps[i].tid || !snaps[i].answered)
            continue;
        out_char(o, ',');
        json_thread_head(o, snaps[i].tid, 0);
        json_stack(o, &snaps[i].stack);
        out_char(o, '}');
    }
    out_str(o, "],\"modules\":[");
    for (int i = 0; i < trace_module_count; i++) {
        const struct cg_module *m = trace_modules[i];
        out_str(o, i ? ",{\"path\":" : "{\"path\":");
        json_str(o, m->path, cg_strlen(m->path));
        out_str(o, ",\"base\":");
        json_hex(o, m->bias);
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
    out_flush(o);
}

void write_report(struct cg_out *o, int sig, const siginfo_t *info, void *ucontext, pid_t tid) {
    if (cg_config.json)
        write_json_report(o, sig, info, ucontext, tid);
    else
        write_text_report(o, sig, info, ucontext, tid);
}
