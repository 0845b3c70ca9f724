/*
 * onstack.h — running a function on another stack.
 */
#ifndef CG_ONSTACK_H
#define CG_ONSTACK_H

/* Calls fn(arg) with the stack pointer at stack_top (rounded down to 16 bytes), and
 * returns on the caller's stack.  stack_top is one past the highest usable byte. */
void cg_call_on_stack(void (*fn)(void *), void *arg, void *stack_top);
#endif
