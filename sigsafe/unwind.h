/*
 * unwind.h — walking a thread's stack from the registers the kernel saved at the signal,
 * with the precomputed call-frame rules (tables from .eh_frame), falling back to the
 * frame-pointer chain where a module has no rule.
 */
#ifndef CG_UNWIND_H
#define CG_UNWIND_H

#include <stdint.h>
#include <ucontext.h>

#include "memread.h"

/* The registers an unwinder can know, in DWARF numbering (x86-64: 0 rax, 1 rdx, 2 rcx,
 * 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 rip). */
#define CG_NREGS 17
struct cg_regs {
    uintptr_t r[CG_NREGS];
    uint32_t valid; /* bit n: r[n] is known */
};
#define CG_REG_FP 6
#define CG_REG_SP 7
#define CG_REG_PC 16

/* Fills regs from a ucontext_t at uc (read with checks: it may be a saved signal frame). */
int regs_from_ucontext(uintptr_t uc, struct cg_reader *rd, struct cg_regs *regs);
void regs_from_context(const ucontext_t *uc, struct cg_regs *regs);

enum cg_frame_how {
    CG_FRAME_CONTEXT,  /* an interrupted pc: the faulting instruction, or one a signal hit */
    CG_FRAME_CALLER,   /* a return address, recovered with the module's call-frame rules */
    CG_FRAME_FP,       /* a return address, found through the frame-pointer chain */
    CG_FRAME_GUESS,    /* the word at the stack pointer: after a jump to a bad address, or
                          a leaf function without unwind information */
    CG_FRAME_SIGTRAMP, /* the signal-return trampoline: a signal handler was called here */
};

struct cg_frame {
    uintptr_t pc;
    uint8_t how;
};

/* Deep stacks (a stack overflow is 100,000 frames) keep their innermost and outermost
 * frames; the middle is counted, not stored. */
#define CG_STACK_HEAD 64
#define CG_STACK_TAIL 36
#define CG_UNWIND_MAX_STEPS 2000000

struct cg_stack {
    struct cg_frame head[CG_STACK_HEAD];
    struct cg_frame tail[CG_STACK_TAIL]; /* ring buffer of the last frames */
    uint64_t total;
    const char *end_reason;
};

/* stack_lo/stack_hi: the thread's stack if known (0, 0 otherwise). */
void unwind_stack(const struct cg_regs *start, uintptr_t stack_lo, uintptr_t stack_hi,
                  struct cg_reader *rd, struct cg_stack *out);

/* Frame i (0 = innermost) if it was kept; returns 0 for an elided frame. */
int stack_frame(const struct cg_stack *s, uint64_t i, struct cg_frame *f);
#endif
