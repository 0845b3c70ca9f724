/*
 * unwind.h — walking a thread's stack from the registers the kernel saved at the signal.
 */
#ifndef CG_UNWIND_H
#define CG_UNWIND_H

#include <stdint.h>
#include <ucontext.h>

#include "memread.h"

/* The registers an unwinder needs, taken out of the arch-specific ucontext. */
struct cg_regs {
    uintptr_t pc, sp, fp;
};
void regs_from_context(const ucontext_t *uc, struct cg_regs *r);

enum cg_frame_how {
    CG_FRAME_CONTEXT, /* the interrupted pc itself */
    CG_FRAME_FP,      /* a return address found through the frame-pointer chain */
    CG_FRAME_GUESS,   /* the word at the stack pointer, after a jump to a bad address */
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
