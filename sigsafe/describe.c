//go:build ignore

/* Words for signals and si_codes: what a person reading the report needs first. */
#include <signal.h>

#include "describe.h"

const char *signal_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    default: return "signal";
    }
}

const char *signal_words(int sig) {
    switch (sig) {
    case SIGSEGV: return "segmentation fault";
    case SIGBUS: return "bus error";
    case SIGILL: return "illegal instruction";
    case SIGFPE: return "arithmetic exception";
    case SIGABRT: return "aborted";
    case SIGTRAP: return "trace/breakpoint trap";
    case SIGSYS: return "bad system call";
    default: return "unexpected signal";
    }
}

const char *code_words(int sig, int code) {
    switch (code) {
    case SI_USER: return "sent by kill()";
    case SI_TKILL: return "sent by tkill()/tgkill() (raise, abort, pthread_kill)";
    case SI_QUEUE: return "sent by sigqueue()";
    case SI_KERNEL: return "sent by the kernel (general protection fault or non-canonical address)";
    case SI_TIMER: return "sent by a POSIX timer";
    case SI_MESGQ: return "sent by a message queue";
    case SI_ASYNCIO: return "sent by AIO completion";
    }
    if (code <= 0)
        return "sent by software";
    switch (sig) {
    case SIGSEGV:
        switch (code) {
        case SEGV_MAPERR: return "address not mapped to object";
        case SEGV_ACCERR: return "invalid permissions for mapped object";
        case 3: return "failed address bound checks";
        case 4: return "failed protection key checks";
        case 5: return "asynchronous memory tagging fault";
        case 6: return "synchronous memory tagging fault";
        case 10: return "shadow stack violation";
        }
        break;
    case SIGBUS:
        switch (code) {
        case BUS_ADRALN: return "invalid address alignment";
        case BUS_ADRERR: return "nonexistent physical address";
        case BUS_OBJERR: return "object-specific hardware error";
        case BUS_MCEERR_AR: return "hardware memory error consumed on a machine check";
        case BUS_MCEERR_AO: return "hardware memory error detected, action optional";
        }
        break;
    case SIGILL:
        switch (code) {
        case ILL_ILLOPC: return "illegal opcode";
        case ILL_ILLOPN: return "illegal operand";
        case ILL_ILLADR: return "illegal addressing mode";
        case ILL_ILLTRP: return "illegal trap";
        case ILL_PRVOPC: return "privileged opcode";
        case ILL_PRVREG: return "privileged register";
        case ILL_COPROC: return "coprocessor error";
        case ILL_BADSTK: return "internal stack error";
        }
        break;
    case SIGFPE:
        switch (code) {
        case FPE_INTDIV: return "integer divide by zero";
        case FPE_INTOVF: return "integer overflow";
        case FPE_FLTDIV: return "floating-point divide by zero";
        case FPE_FLTOVF: return "floating-point overflow";
        case FPE_FLTUND: return "floating-point underflow";
        case FPE_FLTRES: return "floating-point inexact result";
        case FPE_FLTINV: return "floating-point invalid operation";
        case FPE_FLTSUB: return "subscript out of range";
        }
        break;
    case SIGTRAP:
        switch (code) {
        case TRAP_BRKPT: return "process breakpoint";
        case TRAP_TRACE: return "process trace trap";
        case TRAP_BRANCH: return "process taken branch trap";
        case TRAP_HWBKPT: return "hardware breakpoint/watchpoint";
        }
        break;
    case SIGSYS:
        if (code == 1) /* SYS_SECCOMP */
            return "system call denied by a seccomp filter";
        break;
    }
    return "unknown si_code";
}

/* Whether si_addr means anything: only for faults the hardware raised. */
int code_has_address(int sig, int code) {
    if (code <= 0 || code == SI_KERNEL)
        return 0;
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}
