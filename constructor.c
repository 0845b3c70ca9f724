//go:build ignore

/*
 * constructor.c — what happens when the library is loaded, before the host's main().
 *
 * One constructor: read the configuration, snapshot the modules, save every crash signal's
 * disposition and install our handler, give the main thread an alternate stack, map the
 * tables that are cached, and start a helper process for the modules whose tables are not
 * (sigsafe/spawn.c).  The host itself never runs Go and gets no thread of ours: the tables
 * are computed in the helper, written to the cache, and mapped by the handler at a crash
 * if they were not there at load (sigsafe/late_tables.c).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.h"
#include "sigsafe/context.h"
#include "sigsafe/precompute.h"
#include "sigsafe/registry.h"

#define REPORT_FD_FLOOR 1000

static int debug_at_load;
static const char *debug_file; /* CRASHGUARD_DEBUG=/path: lines appended there, not to stderr */
static int signal_wanted[CG_NSIG];
extern void *__libc_stack_end;

static const char *env(const char *name) {
    /* setuid and other AT_SECURE processes must not be steered by their caller's environment. */
    return getauxval(AT_SECURE) ? 0 : getenv(name);
}

/* One line of load-time explanation (CRASHGUARD_DEBUG). */
__attribute__((format(printf, 1, 2))) static void debug_line(const char *format, ...) {
    if (!debug_at_load)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    int fd = debug_file ? open(debug_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : 2;
    if (fd >= 0 && write(fd, line, (size_t)n) < 0)
        n = 0;
    if (debug_file && fd >= 0)
        close(fd);
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
    if (prev->sa_handler != SIG_DFL) {
        cg_real_sigaction(sig, prev, 0);
        cg_stand_by_signal(sig, &sa);
        return 0;
    }
    cg_hold_signal(sig, &sa);
    return 1;
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

/* ---- tables ---- */

/* Maps what is cached; starts a helper for the rest.  Returns what the debug line says. */
static const char *tables_at_load(int *missing, char *why, size_t size) {
    struct cg_cache_scratch scratch; /* ~5 KiB of the constructor's stack, not of every process's .bss */
    cg_setup_precompute();
    *missing = cg_map_cached_tables(&scratch, 0);
    if (!*missing)
        return "every module's tables were cached";
    if (cg_precompute.off_reason)
        return cg_precompute.off_reason;
    pid_t helper = cg_spawn_helper(0);
    char n[12];
    if (helper > 0)
        CG_JOIN(why, size, "helper ", cg_decimal(n, (unsigned)helper), " started for the missing tables");
    else if (helper == 0 && cg_precompute.reaper)
        CG_JOIN(why, size, "no helper started: orphans come back to this process (PID 1 or a subreaper), "
                           "so it starts one only at a crash");
    else if (helper == 0)
        CG_JOIN(why, size, "no helper started: the missing tables are being built by another process, "
                           "or have no build-id");
    else
        CG_JOIN(why, size, "no helper started: ", strerror(cg_precompute.spawn_error));
    return why;
}

/* CRASHGUARD_DEBUG: 0 (or off, false, no) is off; a path names the file the lines go to;
 * anything else is on. */
static void debug_setting(const char *v) {
    static const char *const off[] = {"0", "off", "false", "no"};
    debug_at_load = v && *v;
    for (size_t i = 0; debug_at_load && i < sizeof off / sizeof off[0]; i++)
        if (strcasecmp(v, off[i]) == 0)
            debug_at_load = 0;
    debug_file = debug_at_load && v[0] == '/' ? v : 0;
    cg_config.debug = debug_at_load ? (debug_file ? 2 : 1) : 0;
}

/* The configuration's notes, at load (reports carry them too). */
static void debug_config_notes(void) {
    if (cg_config.config_note[0])
        debug_line("crashguard: configuration: %s\n", cg_config.config_note);
}

__attribute__((constructor)) static void crashguard_init(void) {
    cg_config.main_tid = getpid(); /* the constructor ran: the interposers decide by armed */
    if (cg_is_helper_process())
        return; /* the helper's own process (or the library run as a program): no host to guard */
    debug_setting(env("CRASHGUARD_DEBUG"));
        debug_line("crashguard: libcrashguard.so, %s\n", cg_version);

    if (!cg_parse_switch("CRASHGUARD", env("CRASHGUARD"), 1)) {
        debug_line("crashguard: off (CRASHGUARD=%s): no handlers installed\n", env("CRASHGUARD"));
        return;
    }

    cg_config.sigaction = cg_real_sigaction;
    cg_parse_output(env("CRASHGUARD_OUTPUT"));
    if (getauxval(AT_SECURE)) {
        /* No environment chooses a destination here, and stderr is the caller's: it gets the
         * redacted report.  The full one goes where systemd-coredump keeps a core, the system
         * journal, when its socket is root's (checked at the crash: docs/security.md). */
        snprintf(cg_config.journal_socket, sizeof cg_config.journal_socket, "%s", "/run/systemd/journal/socket");
        cg_config.journal_root_only = 1;
    }
    cg_parse_signals(env("CRASHGUARD_SIGNALS"), signal_wanted);
    cg_parse_format(env("CRASHGUARD_FORMAT"));
    cg_parse_tags(env("CRASHGUARD_TAGS"));
    cg_parse_redact(env("CRASHGUARD_REDACT"));
    cg_parse_stderr_limit(env("CRASHGUARD_STDERR_LIMIT"));
    cg_parse_limits(env("CRASHGUARD_STORM_LIMIT"), env("CRASHGUARD_MAX_FILES"), env("CRASHGUARD_MAX_USE"));
    cg_refresh_modules();
    /* Invalid patterns are dropped with a note; none left is the default (no lists at all). */
    char include_list[1024], exclude_list[1024];
    const char *include = cg_parse_patterns("CRASHGUARD_INCLUDE", env("CRASHGUARD_INCLUDE"), include_list, sizeof include_list);
    const char *exclude = cg_parse_patterns("CRASHGUARD_EXCLUDE", env("CRASHGUARD_EXCLUDE"), exclude_list, sizeof exclude_list);
    if ((include || exclude) && !cg_program_covered(include, exclude, cg_executable_path())) {
        debug_config_notes();
        debug_line("crashguard: %s is not covered by CRASHGUARD_INCLUDE/CRASHGUARD_EXCLUDE: no handlers\n",
                   cg_executable_path());
        return;
    }
    main_stack_bounds();
    cg_setup_report();
    duplicate_report_fd();
    for (int i = 0; i < cg_crash_signal_count; i++) {
        int sig = cg_crash_signals[i];
        if (signal_wanted[sig])
            install_handler(sig, &cg_crash_dispositions[i].prev);
    }
    cg_install_alt_stack();
    cg_config.armed = 1;

    char why[160];
    int missing;
    const char *tables = tables_at_load(&missing, why, sizeof why);
    if (!debug_at_load)
        return;
    debug_config_notes();
    debug_line("crashguard: handlers installed for SEGV BUS ILL FPE ABRT TRAP SYS in %s; %u modules, "
               "%d without cached tables; report fd %d; alt stack %zu bytes; %s\n",
               cg_executable_path(), atomic_load(&cg_module_count), missing, cg_config.report_fd,
               cg_alt_stack_size(), tables);
}
