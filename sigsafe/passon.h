/*
 * passon.h — telling a crash from a death passed on by a wrapper.
 */
#ifndef CG_PASSON_H
#define CG_PASSON_H

#include <signal.h>
#include <sys/types.h>

/* Whether sig (delivered with info and ucontext to a thread of process pid) is a wrapper
 * passing on the death of its child — timeout, strace and the like re-raise the signal
 * their child died of on themselves — rather than a crash of this process's own code. */
int is_passed_on_death(int sig, const siginfo_t *info, const void *ucontext, pid_t pid);
#endif
