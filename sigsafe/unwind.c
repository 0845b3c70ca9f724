//go:build ignore

#include "unwind.h"

#include <stddef.h>

#include "symbols.h"

/* ---- registers ---- */

#if defined(__x86_64__)
/* gregs[] index for each DWARF register number. */
static const int greg_of_dwarf[CG_NREGS] = {
    REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
    REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
};

void regs_from_context(const ucontext_t *uc, struct cg_regs *regs) {
    for (int i = 0; i < CG_NREGS; i++)
        regs->r[i] = (uintptr_t)uc->uc_mcontext.gregs[greg_of_dwarf[i]];
    regs->valid = (1u << CG_NREGS) - 1;
}

int regs_from_ucontext(uintptr_t uc, struct cg_reader *rd, struct cg_regs *regs) {
    uintptr_t gregs = uc + offsetof(ucontext_t, uc_mcontext.gregs);
    for (int i = 0; i < CG_NREGS; i++)
        if (!read_word(rd, gregs + (uintptr_t)greg_of_dwarf[i] * 8, &regs->r[i]))
            return 0;
    regs->valid = (1u << CG_NREGS) - 1;
    return 1;
}
#else
#error "crashguard: the unwinder supports x86-64 only so far"
#endif

/* ---- frames ---- */

static void push(struct cg_stack *s, uintptr_t pc, uint8_t how) {
    struct cg_frame f = {pc, how};
    if (s->total < CG_STACK_HEAD)
        s->head[s->total] = f;
    else
        s->tail[(s->total - CG_STACK_HEAD) % CG_STACK_TAIL] = f;
    s->total++;
}

int stack_frame(const struct cg_stack *s, uint64_t i, struct cg_frame *f) {
    if (i >= s->total)
        return 0;
    if (i < CG_STACK_HEAD) {
        *f = s->head[i];
        return 1;
    }
    uint64_t stored_tail = s->total - CG_STACK_HEAD;
    if (stored_tail > CG_STACK_TAIL)
        stored_tail = CG_STACK_TAIL;
    if (i < s->total - stored_tail)
        return 0;
    *f = s->tail[(i - CG_STACK_HEAD) % CG_STACK_TAIL];
    return 1;
}

static int code_address(uintptr_t pc) { return pc >= 4096 && find_module(pc) != 0; }

/* ---- one step ---- */

struct walk {
    struct cg_regs regs;
    int exact;            /* look up pc itself (interrupted pc), not pc-1 (return address) */
    uintptr_t lo, hi;     /* the stack being walked, if known */
    struct cg_reader *rd;
    const char *why;      /* set when the walk ends */
};

static int has(const struct cg_regs *r, int reg) { return reg < CG_NREGS && (r->valid >> reg) & 1; }

static int on_stack(const struct walk *w, uintptr_t addr) {
    if (w->lo && w->hi)
        return addr >= w->lo && addr < w->hi;
    return addr >= w->regs.r[CG_REG_SP] && addr - w->regs.r[CG_REG_SP] < ((uintptr_t)64 << 20);
}

/* Applies a call-frame rule: computes the CFA and the caller's pc, sp and fp. */
static int step_with_rule(struct walk *w, const struct cg_unwind_rule *rule) {
    struct cg_regs *r = &w->regs;
    uintptr_t cfa;
    switch (rule->kind) {
    case CG_RULE_STOP:
        w->why = "outermost frame";
        return 0;
    case CG_RULE_SIGNAL: {
        /* Returning into the kernel's signal frame: the interrupted registers are in the
         * ucontext_t at the stack pointer, and execution resumes at an exact pc. */
        struct cg_regs next;
        if (!regs_from_ucontext(r->r[CG_REG_SP], w->rd, &next)) {
            w->why = "unreadable signal frame";
            return 0;
        }
        *r = next;
        w->exact = 1;
        if (!(w->lo && w->hi && next.r[CG_REG_SP] >= w->lo && next.r[CG_REG_SP] < w->hi))
            w->lo = w->hi = 0; /* the handler ran on an alternate stack: bounds no longer apply */
        return 1;
    }
    case CG_RULE_CFA:
        if (!has(r, rule->cfa_reg)) {
            w->why = "CFA register not recoverable";
            return 0;
        }
        cfa = r->r[rule->cfa_reg] + (uintptr_t)(intptr_t)rule->cfa_off;
        break;
    case CG_RULE_CFA_DEREF: {
        uintptr_t v;
        if (!has(r, rule->cfa_reg) ||
            !read_word(w->rd, r->r[rule->cfa_reg] + (uintptr_t)(intptr_t)rule->cfa_off, &v)) {
            w->why = "realigned frame: saved CFA unreadable";
            return 0;
        }
        cfa = v + (uintptr_t)(intptr_t)rule->deref_add;
        break;
    }
    case CG_RULE_PLT:
        cfa = r->r[CG_REG_SP] + (uintptr_t)(intptr_t)rule->cfa_off +
              (((r->r[CG_REG_PC] & 15) >= (uintptr_t)rule->deref_add) ? 8 : 0);
        break;
    default:
        w->why = "unknown unwind rule";
        return 0;
    }
    /* The CFA is the caller's stack pointer: it must lie above ours, on the stack. */
    if (cfa <= r->r[CG_REG_SP] || !on_stack(w, cfa - 8)) {
        w->why = "implausible CFA (corrupt stack?)";
        return 0;
    }
    uintptr_t ra, fp = r->r[CG_REG_FP];
    if (!read_word(w->rd, cfa + (uintptr_t)(intptr_t)rule->ra_off, &ra)) {
        w->why = "unreadable return address";
        return 0;
    }
    int fp_known = has(r, CG_REG_FP);
    if (rule->fp_rule == CG_FP_AT_CFA)
        fp_known = read_word(w->rd, cfa + (uintptr_t)(intptr_t)rule->fp_off, &fp);
    else if (rule->fp_rule != CG_FP_SAME)
        fp_known = 0;
    r->valid = (1u << CG_REG_SP) | (1u << CG_REG_PC) | (fp_known ? 1u << CG_REG_FP : 0);
    r->r[CG_REG_SP] = cfa;
    r->r[CG_REG_PC] = ra;
    r->r[CG_REG_FP] = fp;
    w->exact = 0;
    return 1;
}

/* No rule: walk the frame-pointer chain if rbp looks like a frame on this stack. */
static int step_with_frame_pointer(struct walk *w) {
    struct cg_regs *r = &w->regs;
    uintptr_t fp = r->r[CG_REG_FP], next_fp, ra;
    if (!has(r, CG_REG_FP) || (fp & 7) || fp < r->r[CG_REG_SP] || !on_stack(w, fp + 8)) {
        w->why = fp ? "no unwind rule and no usable frame pointer" : "end of the frame-pointer chain";
        return 0;
    }
    if (!read_word(w->rd, fp, &next_fp) || !read_word(w->rd, fp + 8, &ra)) {
        w->why = "unreadable frame";
        return 0;
    }
    r->r[CG_REG_SP] = fp + 16;
    r->r[CG_REG_PC] = ra;
    r->r[CG_REG_FP] = next_fp;
    r->valid = (1u << CG_REG_SP) | (1u << CG_REG_PC) | (next_fp > fp ? 1u << CG_REG_FP : 0);
    w->exact = 0;
    return 1;
}

/* A jump to a bad address, or a leaf without unwind information: the caller's return
 * address is the word at the stack pointer. */
static int step_from_stack_top(struct walk *w) {
    uintptr_t ra;
    if (!read_word(w->rd, w->regs.r[CG_REG_SP], &ra) || !code_address(ra))
        return 0;
    w->regs.r[CG_REG_SP] += 8;
    w->regs.r[CG_REG_PC] = ra;
    w->regs.valid &= ~(1u << CG_REG_PC);
    w->regs.valid |= 1u << CG_REG_PC;
    w->exact = 0;
    return 1;
}

void unwind_stack(const struct cg_regs *start, uintptr_t stack_lo, uintptr_t stack_hi,
                  struct cg_reader *rd, struct cg_stack *out) {
    struct walk w = {.regs = *start, .exact = 1, .lo = stack_lo, .hi = stack_hi, .rd = rd};
    out->total = 0;
    push(out, w.regs.r[CG_REG_PC], CG_FRAME_CONTEXT);
    for (uint64_t steps = 0; steps < CG_UNWIND_MAX_STEPS; steps++) {
        uintptr_t pc = w.regs.r[CG_REG_PC];
        const struct cg_module *m = find_module(pc);
        const struct cg_unwind_rule *rule =
            m ? find_unwind_rule(m, (w.exact ? pc : pc - 1) - m->bias) : 0;
        uint8_t how;
        if (rule && rule->kind != CG_RULE_INVALID) {
            int signal = rule->kind == CG_RULE_SIGNAL;
            if (!step_with_rule(&w, rule))
                break;
            how = signal ? CG_FRAME_CONTEXT : CG_FRAME_CALLER;
        } else if (steps == 0 && (!m || module_unwind(m)) && step_from_stack_top(&w)) {
            how = CG_FRAME_GUESS;
        } else if (step_with_frame_pointer(&w)) {
            how = CG_FRAME_FP;
        } else {
            break;
        }
        uintptr_t next = w.regs.r[CG_REG_PC];
        if (next == 0) {
            w.why = "end of stack";
            break;
        }
        if (!code_address(next)) {
            w.why = "return address outside known code";
            break;
        }
        /* A return address that lands in the signal trampoline: say so, as gdb does. */
        const struct cg_module *nm = find_module(next);
        const struct cg_unwind_rule *nr = nm ? find_unwind_rule(nm, next - 1 - nm->bias) : 0;
        if (how != CG_FRAME_CONTEXT && nr && nr->kind == CG_RULE_SIGNAL)
            how = CG_FRAME_SIGTRAMP;
        push(out, next, how);
    }
    out->end_reason = w.why ? w.why : "too many frames";
}
