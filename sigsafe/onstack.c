//go:build ignore

/*
 * onstack.c — cg_call_on_stack: a few instructions that move the stack pointer to another
 * stack around one call.  The handler uses it to write the report on a static stack of its
 * own (handler.c): the stack the kernel gave the handler may be a small alternate stack the
 * host installed, with nothing but the host's memory below it.  The call-frame information
 * lets a debugger (or a core file's reader) walk from the report back to the signal.
 */
#include "onstack.h"

#if defined(__x86_64__)
__asm__(".text\n"
        ".globl cg_call_on_stack\n"
        ".hidden cg_call_on_stack\n"
        ".type cg_call_on_stack, @function\n"
        "cg_call_on_stack:\n"
        ".cfi_startproc\n"
        "    pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "    movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "    andq $-16, %rdx\n"
        "    movq %rdx, %rsp\n"
        "    movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    callq *%rax\n"
        "    movq %rbp, %rsp\n"
        "    popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size cg_call_on_stack, .-cg_call_on_stack\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl cg_call_on_stack\n"
        ".hidden cg_call_on_stack\n"
        ".type cg_call_on_stack, %function\n"
        "cg_call_on_stack:\n"
        ".cfi_startproc\n"
        "    stp x29, x30, [sp, #-16]!\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset x29, -16\n"
        ".cfi_offset x30, -8\n"
        "    mov x29, sp\n"
        ".cfi_def_cfa_register x29\n"
        "    and x2, x2, #~15\n"
        "    mov sp, x2\n"
        "    mov x3, x0\n"
        "    mov x0, x1\n"
        "    blr x3\n"
        "    mov sp, x29\n"
        ".cfi_def_cfa_register sp\n"
        "    ldp x29, x30, [sp], #16\n"
        ".cfi_def_cfa_offset 0\n"
        ".cfi_restore x29\n"
        ".cfi_restore x30\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size cg_call_on_stack, .-cg_call_on_stack\n");
#else
/* No switch elsewhere: the report runs on the handler's stack. */
void cg_call_on_stack(void (*fn)(void *), void *arg, void *stack_top) {
    (void)stack_top;
    fn(arg);
}
#endif
