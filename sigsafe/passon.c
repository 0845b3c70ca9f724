//go:build ignore

/*
 * passon.c — "one crash, one report".  Under the preload a wrapper and its child both carry
 * the library: `timeout 10 ./crasher` or `strace ./crasher` would report the child's crash
 * and then, when the wrapper re-raises the child's signal on itself to die the same way, a
 * second full report about timeout or strace.
 *
 * What the handler sees, measured (glibc 2.36, coreutils 9.1, strace 6.1, bash 5.2.15,
 * Python 3.11; every signal came from the process itself):
 *
 *                                    si_code   on the alt.  after a   reaped a
 *                                              stack        syscall   child
 *   timeout 10 ./crasher             SI_TKILL  no           yes       yes
 *   strace ./crasher                 SI_TKILL  no           yes       yes
 *   bash -c './crasher; kill -SEGV $$'
 *                                    SI_USER   no           yes       yes
 *   bash -c 'kill -SEGV $$'          SI_USER   no           yes       no
 *   abort(), raise(SIGSEGV)          SI_TKILL  no           yes       no (in the test)
 *   python3 -X faulthandler, after
 *     subprocess.run: its handler
 *     re-raises (SIG_DFL, raise)     SI_TKILL  yes          yes       yes
 *   a handler that blocks the signal
 *     kill()s itself (as glog does),
 *     after running a child          SI_USER   no           no        yes
 *
 * So the si_code cannot tell timeout's raise() from a program's own raise(SIGSEGV).  What
 * sets a wrapper apart is that it waited for a child before it sent itself the signal: the
 * kernel accounts the resources of reaped children (getrusage(RUSAGE_CHILDREN)), and a
 * child that ran has page faults on record.  That alone would take a program that ran a
 * child (system(), a fork for a helper) and then crashes by its own raise() for a wrapper.
 * The wrappers also say that the death is not theirs, each in its way, before they pass it
 * on: timeout turns its own core dump off (PR_SET_DUMPABLE 0: coreutils' disable_core_dumps),
 * strace lowers RLIMIT_CORE to {0, 0} ("avoid potential core file clobbering"), and a shell
 * uses kill (SI_USER) where a crashing program uses raise() or abort() (SI_TKILL).  The
 * criterion, all of:
 *   - sent by this process to itself (SI_USER or SI_TKILL, si_pid our pid);
 *   - not SIGABRT: abort() is the most common crash of all and a program may well have run
 *     children before it; a wrapper passing on an abort still gets a report of its own;
 *   - not sent from code running on the alternate signal stack: that is a fault handler of
 *     the program re-raising a real fault, whose report is the valuable one;
 *   - delivered right after a system call of the interrupted code (the kill or tgkill that
 *     sent it): a signal a fault handler sent while it blocked it arrives when the handler
 *     returns, at the faulting instruction;
 *   - the process has reaped at least one child;
 *   - it declines its own core: kill() rather than raise(), or not dumpable, or a hard
 *     RLIMIT_CORE of 0.
 * A program that runs children, makes itself not dumpable (or its hard core limit 0) and
 * later raises a crash signal other than SIGABRT on itself from ordinary code is taken for a
 * wrapper: one line instead of a report.
 */
#include "passon.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <ucontext.h>

#include "sys.h"

/* Whether the instruction before pc is a system call, read by the kernel (the bytes may be
 * anywhere, unreadable included). */
static int after_a_system_call(const ucontext_t *uc, pid_t pid) {
#if defined(__x86_64__)
    static const unsigned char syscall_insn[2] = {0x0f, 0x05};
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    static const unsigned char syscall_insn[4] = {0x01, 0x00, 0x00, 0xd4}; /* svc #0 */
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
#else
    static const unsigned char syscall_insn[1] = {0};
    uintptr_t pc = 0;
#endif
    unsigned char before[sizeof syscall_insn];
    if (pc < sizeof before ||
        cg_sys_read_own_memory(pid, before, (const void *)(pc - sizeof before), sizeof before) != (long)sizeof before)
        return 0;
    for (size_t i = 0; i < sizeof before; i++)
        if (before[i] != syscall_insn[i])
            return 0;
    return 1;
}

static int has_reaped_a_child(void) {
    struct rusage ru;
    if (cg_sys_getrusage(RUSAGE_CHILDREN, &ru) != 0)
        return 0;
    return ru.ru_minflt || ru.ru_majflt || ru.ru_utime.tv_sec || ru.ru_utime.tv_usec ||
           ru.ru_stime.tv_sec || ru.ru_stime.tv_usec;
}

/* The kernel saves the thread's alternate stack (not whether it was on it) in the signal
 * frame; the interrupted stack pointer tells. */
static int interrupted_on_alt_stack(const ucontext_t *uc) {
#if defined(__x86_64__)
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.sp;
#else
    uintptr_t sp = 0;
#endif
    uintptr_t lo = (uintptr_t)uc->uc_stack.ss_sp;
    return !(uc->uc_stack.ss_flags & SS_DISABLE) && sp - lo < uc->uc_stack.ss_size;
}

static int declines_its_own_core(const siginfo_t *info) {
    if (info->si_code == SI_USER)
        return 1;
    if (cg_sys_prctl(PR_GET_DUMPABLE, 0, 0) == 0)
        return 1;
    struct rlimit core;
    return cg_sys_prlimit(RLIMIT_CORE, 0, &core) == 0 && core.rlim_max == 0;
}

int is_passed_on_death(int sig, const siginfo_t *info, const void *ucontext, pid_t pid) {
    if ((info->si_code != SI_USER && info->si_code != SI_TKILL) || info->si_pid != pid)
        return 0;
    if (sig == SIGABRT)
        return 0;
    const ucontext_t *uc = ucontext;
    return !interrupted_on_alt_stack(uc) && after_a_system_call(uc, pid) && has_reaped_a_child() &&
           declines_its_own_core(info);
}
