#include "unwind.h"

#include "symbols.h"

void regs_from_context(const ucontext_t *uc, struct cg_regs *r) {
#if defined(__x86_64__)
    r->pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    r->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    r->fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
#elif defined(__aarch64__)
    r->pc = (uintptr_t)uc->uc_mcontext.pc;
    r->sp = (uintptr_t)uc->uc_mcontext.sp;
    r->fp = (uintptr_t)uc->uc_mcontext.regs[29];
#else
#error "crashguard: unsupported architecture"
#endif
}

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

/* A frame pointer is believable only inside the thread's stack (or, when its bounds are
 * unknown, within 64 MiB above the stack pointer), 8-byte aligned, and above the last one. */
static int plausible_fp(uintptr_t fp, uintptr_t sp, uintptr_t lo, uintptr_t hi) {
    if (fp & 7)
        return 0;
    if (lo && hi)
        return fp >= lo && fp + 16 <= hi && fp >= sp;
    return fp >= sp && fp - sp < ((uintptr_t)64 << 20);
}

void unwind_stack(const struct cg_regs *start, uintptr_t stack_lo, uintptr_t stack_hi,
                  struct cg_reader *rd, struct cg_stack *out) {
    out->total = 0;
    out->end_reason = "end of the frame-pointer chain";
    uintptr_t sp = start->sp, fp = start->fp;
    push(out, start->pc, CG_FRAME_CONTEXT);

    /* A call through a NULL or wild pointer leaves pc outside all code, with the caller's
     * return address still on top of the stack. */
    if (!code_address(start->pc)) {
        uintptr_t ra;
        if (read_word(rd, sp, &ra) && code_address(ra)) {
            push(out, ra, CG_FRAME_GUESS);
            sp += 8;
        }
    }

    for (uint64_t steps = 0; steps < CG_UNWIND_MAX_STEPS; steps++) {
        if (!plausible_fp(fp, sp, stack_lo, stack_hi)) {
            out->end_reason = fp ? "frame pointer outside the stack" : "end of the frame-pointer chain";
            return;
        }
        uintptr_t next_fp, ra;
        if (!read_word(rd, fp, &next_fp) || !read_word(rd, fp + 8, &ra)) {
            out->end_reason = "unreadable frame";
            return;
        }
        if (ra == 0) {
            out->end_reason = "end of stack";
            return;
        }
        if (!code_address(ra)) {
            out->end_reason = "return address outside known code";
            return;
        }
        push(out, ra, CG_FRAME_FP);
        if (next_fp <= fp) {
            out->end_reason = next_fp ? "frame pointer did not increase" : "end of stack";
            return;
        }
        sp = fp + 16;
        fp = next_fp;
    }
    out->end_reason = "too many frames";
}
