//go:build ignore

/*
 * constructor.c — what happens when the library is loaded, before the host's main().
 *
 * One constructor: snapshot the modules, save every signal disposition, install our handler,
 * give the main thread an alternate stack, map the cached tables, and decide whether the Go
 * part must be loaded at all (research go-cshared-preload §9.2, §13).  Only when some
 * module's tables are missing and nothing forbids it is the Go part loaded (go_part.c); its
 * runtime installs its handlers and starts its init thread, which runs the precomputation
 * (export.go) concurrently with main().  Then we go back on top of Go's handlers for the
 * signals Go takes, and restore every other disposition Go changed.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.h"
#include "sigsafe/crashguard.h"

/* Go's runtime needs about 1.6 GB of address space reservations and a handful of threads;
 * below these limits it aborts the host (research §5), so it must not start. */
#define GO_MIN_ADDRESS_SPACE ((rlim_t)3 << 30)
#define GO_MIN_NPROC 256
#define REPORT_FD_FLOOR 1000

static int debug_at_load;
static struct sigaction dispositions_before_go[CG_NSIG];
static int handler_installed[CG_NSIG];
static int signal_wanted[CG_NSIG];
extern void *__libc_stack_end;

/* ---- configuration (the operators' issue extends this) ---- */

static const char *env(const char *name) {
    /* setuid and other AT_SECURE processes must not be steered by their caller's environment. */
    return getauxval(AT_SECURE) ? 0 : getenv(name);
}

/* ---- the report descriptor ---- */

static void duplicate_report_fd(void) {
    struct rlimit nofile;
    int floor = REPORT_FD_FLOOR;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur <= (rlim_t)floor)
        floor = nofile.rlim_cur > 16 ? (int)nofile.rlim_cur - 8 : 3;
    int fd = fcntl(2, F_DUPFD_CLOEXEC, floor);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return; /* stderr closed: the handler writes to whatever fd 2 is at crash time */
    }
    cg_config.report_dev = (uint64_t)st.st_dev;
    cg_config.report_ino = (uint64_t)st.st_ino;
    cg_config.report_fd = fd;
}

/* ---- when the Go part must not be loaded ---- */

static void *probe_thread(void *arg) { return arg; }

/* Under a seccomp filter (container runtimes, systemd's SystemCallFilter=) thread creation
 * may be refused (clone3 with EPERM: moby/moby#42680); the Go runtime then aborts the host
 * from its constructor.  One throw-away thread tells, only where a filter is active. */
static int thread_creation_allowed(void) {
    pthread_t t;
    if (cg_real_pthread_create(&t, 0, probe_thread, 0) != 0)
        return 0;
    pthread_join(t, 0);
    return 1;
}

/* Asked for, or a process Go must never serve: known without a system call. */
static const char *reason_go_is_excluded(void) {
    const char *v = env("CRASHGUARD_GO");
    if (v && strcmp(v, "off") == 0)
        return "disabled by CRASHGUARD_GO=off";
    if (getauxval(AT_SECURE))
        return "setuid/AT_SECURE process";
    return 0;
}

/* Where the Go runtime would fail or abort the host; checked only when Go is needed. */
static const char *reason_go_cannot_run_here(void) {
    if (getpid() == 1)
        return "process is PID 1 (an init must not host a Go runtime)";
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur < GO_MIN_ADDRESS_SPACE)
        return "RLIMIT_AS below 3 GiB is too low for the Go runtime";
    if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur < GO_MIN_NPROC)
        return "RLIMIT_NPROC below 256 is too low for the Go runtime's threads";
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2 && !thread_creation_allowed())
        return "a seccomp filter refuses thread creation (the Go runtime would abort)";
    return 0;
}

/* ---- handlers ---- */

/* Installs our handler over the disposition it returns in prev (if asked), unless that was
 * not the default: an ignore (the host or its parent asked for it), or a handler installed
 * by a constructor that ran before ours (a DT_NEEDED library's, or a later preload's) —
 * the program's own, which may resolve faults it expects (write barriers, guard pages,
 * probing) and must see them first, as without us.  Either is put back and stays in charge;
 * ours stands by and goes in only when the program gives the signal back to the default
 * (sigaction_interpose.c).  The old action comes back from the install itself (one system
 * call per signal, not two), so such a disposition is replaced for the next instruction's
 * time, before main() runs. */
static int install_handler(int sig, struct sigaction *prev) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = cg_signal_handler;
    /* A full mask: no other signal handler may run on top of a half-written report.  A
     * fault inside the handler is then delivered with the default action by the kernel. */
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    if (cg_real_sigaction(sig, &sa, prev) != 0)
        return 0;
    if (prev && prev->sa_handler != SIG_DFL) {
        cg_real_sigaction(sig, prev, 0);
        cg_stand_by_signal(sig, &sa);
        return 0;
    }
    cg_hold_signal(sig, &sa);
    return 1;
}

static int is_ours(const struct sigaction *sa) {
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == cg_signal_handler;
}

static void main_stack_bounds(void) {
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t top = ((uintptr_t)__libc_stack_end + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    struct rlimit stack;
    rlim_t size = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY)
        size = stack.rlim_cur;
    /* The environment and auxv sit above __libc_stack_end; allow for them. */
    cg_config.main_stack_hi = top + (1u << 20);
    cg_config.main_stack_lo = top > size ? top - size : 0;
}

/* Go recorded our handler as the one to forward non-Go faults to, and may have changed other
 * dispositions: we go back on top for the crash signals and hand Go the faults of its own
 * threads (handler.c, step 1). */
static void take_back_signals_from_go(void) {
    for (int sig = 1; sig < CG_NSIG; sig++) {
        struct sigaction now;
        if (cg_real_sigaction(sig, 0, &now) != 0)
            continue;
        if (handler_installed[sig]) {
            if (!is_ours(&now)) {
                cg_crash_dispositions[cg_crash_slot(sig)].go = now;
                install_handler(sig, 0);
            }
        } else if (now.sa_handler != dispositions_before_go[sig].sa_handler) {
            /* SIGPIPE and SIGURG: an inherited SIG_IGN must stay an ignore for the host and
             * its children, and a default must stay a default. */
            cg_real_sigaction(sig, &dispositions_before_go[sig], 0);
        }
    }
}

__attribute__((constructor)) static void crashguard_init(void) {
    const char *v = env("CRASHGUARD_DEBUG");
    debug_at_load = v && *v && strcmp(v, "0") != 0;
    cg_config.debug = debug_at_load;
    cg_config.main_tid = getpid();

    v = env("CRASHGUARD");
    if (v && strcmp(v, "off") == 0) {
        cg_config.go_reason = "disabled by CRASHGUARD=off";
        if (debug_at_load)
            fprintf(stderr, "crashguard: off (CRASHGUARD=off): no handlers installed\n");
        return;
    }

    cg_config.sigaction = cg_real_sigaction;
    cg_parse_output(env("CRASHGUARD_OUTPUT"));
    cg_parse_signals(env("CRASHGUARD_SIGNALS"), signal_wanted);
    cg_parse_format(env("CRASHGUARD_FORMAT"));
    if (debug_at_load && cg_config.config_note[0])
        fprintf(stderr, "crashguard: configuration: %s\n", cg_config.config_note);
    cg_refresh_modules();
    if (debug_at_load)
        cg_executable_path(); /* named in the debug lines below */
    const char *include = env("CRASHGUARD_INCLUDE"), *exclude = env("CRASHGUARD_EXCLUDE");
    if ((include || exclude) && !cg_program_covered(include, exclude, cg_executable_path())) {
        cg_config.go_reason = "program not covered by CRASHGUARD_INCLUDE/CRASHGUARD_EXCLUDE";
        if (debug_at_load)
            fprintf(stderr, "crashguard: %s is not covered by CRASHGUARD_INCLUDE/CRASHGUARD_EXCLUDE: "
                            "no handlers, no Go runtime\n", cg_executable_path());
        return;
    }
    cg_config.startup_modules = atomic_load(&cg_module_count);
    main_stack_bounds();
    duplicate_report_fd();
    for (int i = 0; i < cg_crash_signal_count; i++) {
        int sig = cg_crash_signals[i];
        if (signal_wanted[sig])
            handler_installed[sig] = install_handler(sig, &cg_crash_dispositions[i].prev);
    }
    cg_install_alt_stack();
    cg_config.armed = 1;

    /* Go only when needed: cached tables are mapped whatever happens (a process that must
     * not run Go still gets names), and when they cover every module Go has nothing to do. */
    static char go_reason[96];
    int found, total;
    const char *reason = reason_go_is_excluded();
    if (cg_load_cached_tables(&found, &total) && !reason) {
        char n[12];
        CG_JOIN(go_reason, sizeof go_reason, "all ", cg_decimal(n, (unsigned)total), " modules' tables were in the cache");
        reason = go_reason;
    }
    if (!reason)
        reason = reason_go_cannot_run_here();
    if (!reason) {
        /* What the Go runtime might change, to be put back once it installed its handlers. */
        for (int sig = 1; sig < CG_NSIG; sig++)
            cg_real_sigaction(sig, 0, &dispositions_before_go[sig]);
        cg_executable_path(); /* the Go part reads the program's path from the registry */
        reason = cg_load_go_part();
    }
    if (!reason) {
        cg_config.go_started = 1;
        take_back_signals_from_go();
        char n[12], of[12];
        CG_JOIN(go_reason, sizeof go_reason, "tables of ", cg_decimal(n, (unsigned)(total - found)), " of ",
                cg_decimal(of, (unsigned)total), " modules to compute");
        reason = go_reason;
    }
    cg_config.go_reason = reason;
    if (debug_at_load)
        fprintf(stderr,
                "crashguard: handlers installed for SEGV BUS ILL FPE ABRT TRAP SYS; %u modules, "
                "%d with cached tables; report fd %d; alt stack %zu bytes; Go runtime %s (%s)\n",
                atomic_load(&cg_module_count), found, cg_config.report_fd, cg_alt_stack_size(),
                cg_config.go_started ? "starts" : "does not start", cg_config.go_reason);
}
