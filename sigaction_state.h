/* sigaction_state.h — what the signal handler may read of the sigaction interposer's state
 * (sigaction_interpose.c). */
#ifndef CG_SIGACTION_STATE_H
#define CG_SIGACTION_STATE_H
#include <signal.h>

/* Copies into *out the disposition the program believes crash signal slot has (what it, its
 * parent, or a library before us set; what die_as_before must put back).  Async-signal-safe
 * and lock-free: never waits for the interposer, which may be changing it on another thread
 * (or on this one, interrupted), and never returns a struct half old and half new.  SIG_DFL
 * for a slot out of range.  A copy, not a pointer: a pointer into the interposer's state
 * could be overwritten while the caller still reads it. */
void cg_previous_action(int slot, struct sigaction *out);

#endif
