/*
 * constructor.c — what happens when the library is loaded, before the host's main().
 *
 * Order inside this library's .init_array (research go-cshared-preload §1, §2.5, §13):
 *   1. before_go_runtime (priority 101): snapshot modules, save every signal disposition,
 *      install our handler, give the main thread an alternate stack, and decide whether the
 *      Go runtime may start in this process at all — if not, its init entry becomes a no-op;
 *   2. the Go runtime's entry (_rt0_amd64_linux_lib): installs Go's handlers, starts Go's
 *      init thread, which runs the precomputation (export.go) concurrently with main();
 *   3. after_go_runtime (default priority): put our handler back on top of Go's for the
 *      signals Go takes, and restore every other disposition Go changed.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "go_offsets.h"
#include "interpose.h"
#include "sigsafe/crashguard.h"

/* Go's runtime needs about 1.6 GB of address space reservations and a handful of threads;
 * below these limits it aborts the host (research §5), so it must not start. */
#define GO_MIN_ADDRESS_SPACE ((rlim_t)3 << 30)
#define GO_MIN_NPROC 256
#define REPORT_FD_FLOOR 1000

static int armed;              /* our handlers are installed */
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

/* ---- keeping the Go runtime from starting (research §13) ---- */

extern char __ehdr_start[];
extern ElfW(Dyn) _DYNAMIC[];

static void go_runtime_skipped(void) {}

static int inside_relro(uintptr_t addr) {
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)__ehdr_start;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(__ehdr_start + eh->e_phoff);
    uintptr_t base = (uintptr_t)__ehdr_start;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_GNU_RELRO && addr >= base + ph[i].p_vaddr &&
            addr < base + ph[i].p_vaddr + ph[i].p_memsz)
            return 1;
    return 0;
}

/* The loader reads each .init_array entry just before calling it, so replacing Go's entry
 * now, while our priority-101 entry runs, means the Go runtime never starts. */
static int skip_go_runtime_init(void) {
    if (!cg_go_offsets.rt0)
        return 0;
    uintptr_t base = (uintptr_t)__ehdr_start, rt0 = base + cg_go_offsets.rt0;
    uintptr_t array = 0, array_size = 0;
    for (ElfW(Dyn) *d = _DYNAMIC; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_INIT_ARRAY)
            array = d->d_un.d_ptr < base ? base + d->d_un.d_ptr : d->d_un.d_ptr;
        else if (d->d_tag == DT_INIT_ARRAYSZ)
            array_size = d->d_un.d_val;
    }
    uintptr_t *entries = (uintptr_t *)array;
    for (size_t i = 0; array && i < array_size / sizeof *entries; i++) {
        if (entries[i] != rt0)
            continue;
        long page = sysconf(_SC_PAGESIZE);
        void *p = (void *)((uintptr_t)&entries[i] & ~((uintptr_t)page - 1));
        int relro = inside_relro((uintptr_t)&entries[i]);
        if (mprotect(p, (size_t)page, PROT_READ | PROT_WRITE) != 0)
            return 0;
        entries[i] = (uintptr_t)go_runtime_skipped;
        if (relro)
            mprotect(p, (size_t)page, PROT_READ);
        return 1;
    }
    return 0;
}

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

static const char *reason_go_must_not_start(void) {
    const char *v = env("CRASHGUARD_GO");
    if (v && strcmp(v, "off") == 0)
        return "disabled by CRASHGUARD_GO=off";
    if (getauxval(AT_SECURE))
        return "setuid/AT_SECURE process";
    if (getpid() == 1)
        return "process is PID 1 (an init must not host a Go runtime)";
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur < GO_MIN_ADDRESS_SPACE)
        return "RLIMIT_AS below 3 GiB is too low for the Go runtime";
    if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur < GO_MIN_NPROC)
        return "RLIMIT_NPROC below 256 is too low for the Go runtime's threads";
    if (!cg_go_offsets.rt0)
        return "library built without the Go runtime's offsets (use build.sh)";
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2 && !thread_creation_allowed())
        return "a seccomp filter refuses thread creation (the Go runtime would abort)";
    return 0;
}

/* Go's threads unblock every signal marked _SigUnblock in runtime.sigtable, SIGCHLD among
 * them, even though we create them with it blocked; a host reading SIGCHLD from a signalfd
 * would then lose it to a Go thread (research §12).  Go never needs SIGCHLD in a library.
 * The flag is the one bit SIGCHLD shares with SIGSEGV and not with SIGHUP; any surprise in
 * the table's layout leaves it untouched. */
struct go_string {
    const char *ptr;
    intptr_t len;
};
struct go_sigtab_entry {
    int32_t flags;
    struct go_string name;
};

static int go_signal_named(const struct go_sigtab_entry *e, const char *name) {
    size_t n = strlen(name);
    return e->name.len >= (intptr_t)n && e->name.ptr && memcmp(e->name.ptr, name, n) == 0;
}

static int keep_sigchld_from_go_threads(void) {
    if (!cg_go_offsets.sigtable)
        return 0;
    struct go_sigtab_entry *t = (struct go_sigtab_entry *)(__ehdr_start + cg_go_offsets.sigtable);
    if (!go_signal_named(&t[SIGSEGV], "SIGSEGV") || !go_signal_named(&t[SIGCHLD], "SIGCHLD") ||
        !go_signal_named(&t[SIGHUP], "SIGHUP"))
        return 0;
    int32_t unblock = t[SIGCHLD].flags & t[SIGSEGV].flags & ~t[SIGHUP].flags;
    if (unblock == 0 || (unblock & (unblock - 1)) != 0)
        return 0;
    t[SIGCHLD].flags &= ~unblock;
    return 1;
}

/* ---- handlers ---- */

static void install_handler(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = cg_signal_handler;
    /* A full mask: no other signal handler may run on top of a half-written report.  A
     * fault inside the handler is then delivered with the default action by the kernel. */
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    if (cg_real_sigaction(sig, &sa, 0) == 0)
        cg_hold_signal(sig, &sa);
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

__attribute__((constructor(101))) static void before_go_runtime(void) {
    const char *v = env("CRASHGUARD_DEBUG");
    debug_at_load = v && *v && strcmp(v, "0") != 0;
    cg_config.debug = debug_at_load;
    cg_config.main_tid = getpid();

    v = env("CRASHGUARD");
    if (v && strcmp(v, "off") == 0) {
        skip_go_runtime_init();
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
    cg_loader_hooks.refresh_modules = cg_refresh_modules;
    cg_loader_hooks.wait_for_module_change = cg_wait_for_module_change;
    cg_loader_hooks.module_change_handled = cg_module_change_handled;
    cg_refresh_modules();
    if (!cg_program_covered(env("CRASHGUARD_INCLUDE"), env("CRASHGUARD_EXCLUDE"),
                            atomic_load(&cg_module_count) ? cg_modules[0].path : "")) {
        skip_go_runtime_init();
        cg_config.go_reason = "program not covered by CRASHGUARD_INCLUDE/CRASHGUARD_EXCLUDE";
        if (debug_at_load)
            fprintf(stderr, "crashguard: %s is not covered by CRASHGUARD_INCLUDE/CRASHGUARD_EXCLUDE: "
                            "no handlers, no Go runtime\n", cg_modules[0].path);
        return;
    }
    cg_config.startup_modules = atomic_load(&cg_module_count);
    main_stack_bounds();
    duplicate_report_fd();
    for (int i = 0; i < cg_crash_signal_count; i++) {
        int sig = cg_crash_signals[i];
        cg_real_sigaction(sig, 0, &cg_prev_action[sig]);
        /* An ignored signal stays ignored: the host (or its parent) asked for that. */
        if (!signal_wanted[sig] ||
            (!(cg_prev_action[sig].sa_flags & SA_SIGINFO) && cg_prev_action[sig].sa_handler == SIG_IGN))
            continue;
        install_handler(sig);
        handler_installed[sig] = 1;
    }
    armed = 1;
    cg_install_alt_stack();

    /* Go only when needed: cached tables are mapped whatever happens (a process that must
     * not run Go still gets names), and when they cover every module Go has nothing to do. */
    static char cached_reason[96];
    int found, total;
    const char *reason = reason_go_must_not_start();
    if (cg_load_cached_tables(&found, &total) && !reason) {
        snprintf(cached_reason, sizeof cached_reason, "all %d modules' tables were in the cache", total);
        reason = cached_reason;
    }
    if (reason && !skip_go_runtime_init())
        reason = 0; /* could not keep Go out: it starts, made as harmless as it can be */
    cg_config.go_started = reason == 0;
    if (!reason) {
        snprintf(cached_reason, sizeof cached_reason, "tables of %d of %d modules to compute",
                 total - found, total);
        reason = cached_reason;
    }
    cg_config.go_reason = reason;
    /* What the Go runtime might change, to be put back after it installed its handlers
     * (after_go_runtime); crash signals are ours by now and handled there separately. */
    if (cg_config.go_started)
        for (int sig = 1; sig < CG_NSIG; sig++)
            cg_real_sigaction(sig, 0, &dispositions_before_go[sig]);
    int sigchld_kept = cg_config.go_started ? keep_sigchld_from_go_threads() : 0;
    if (debug_at_load)
        fprintf(stderr,
                "crashguard: handlers installed for SEGV BUS ILL FPE ABRT TRAP SYS; %u modules, "
                "%d with cached tables; report fd %d; alt stack %zu bytes; Go runtime %s (%s)%s\n",
                atomic_load(&cg_module_count), found, cg_config.report_fd, cg_alt_stack_size(),
                cg_config.go_started ? "starts" : "does not start", cg_config.go_reason,
                cg_config.go_started && !sigchld_kept ? "; WARNING: could not keep SIGCHLD from Go's threads" : "");
}

__attribute__((constructor)) static void after_go_runtime(void) {
    if (!armed || !cg_config.go_started)
        return;
    for (int sig = 1; sig < CG_NSIG; sig++) {
        struct sigaction now;
        if (cg_real_sigaction(sig, 0, &now) != 0)
            continue;
        if (handler_installed[sig]) {
            /* Go recorded our handler as the one to forward non-Go faults to; we go back on
             * top and hand Go the faults of its own threads (handler.c, step 1). */
            if (!is_ours(&now)) {
                cg_go_action[sig] = now;
                install_handler(sig);
            }
        } else if (now.sa_handler != dispositions_before_go[sig].sa_handler) {
            /* SIGPIPE and SIGURG: an inherited SIG_IGN must stay an ignore for the host and
             * its children, and a default must stay a default. */
            cg_real_sigaction(sig, &dispositions_before_go[sig], 0);
        }
    }
}
