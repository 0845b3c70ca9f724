//go:build ignore

/*
 * helper_main.c — libcrashguard.so run as a program: the helper process a host starts
 * (sigsafe/spawn.c) to compute the tables it lacks; run by a person (`libcrashguard.so
 * --version`, or through the loader), it says what it is.
 *
 *   ld.so --argv0 crashguard /path/libcrashguard.so --helper --library=/path/libcrashguard.so
 *         [--urgent] [--dir=DIR]... [--memfd=3] -- ID:PATH...
 *
 * The dynamic loader maps the library as the main program, runs its initializers (ours
 * returns at once: this is no host) and jumps to cg_helper_entry.  Here the process makes
 * itself harmless — every signal back to its default, idle CPU and I/O priority, limits
 * raised to what it may raise them to — then loads the embedded Go part (go_part.c), whose
 * initialization builds the tables of the listed modules into the first usable directory
 * and exits the process (preload.Helper).
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose.h"
#include "sigsafe/sys.h"

#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_WHO_PROCESS 1

void cg_helper_entry(void);

/* build.sh: the VERSION file and a hash of the sources, the same in the crashguard command. */
#ifndef CG_VERSION
#define CG_VERSION "unknown"
#endif
#ifndef CG_BUILD
#define CG_BUILD "unknown"
#endif
const char cg_version[] = "crashguard " CG_VERSION " (build " CG_BUILD ")";

/* A program interpreter, as libc.so.6 has one: the kernel then runs the library itself
 * (`/usr/lib/x86_64-linux-gnu/libcrashguard.so --version`).  Loaders ignore it in libraries:
 * a host preloading us never reads it. */
const char cg_interp[] __attribute__((section(".interp"), used)) = "/lib64/ld-linux-x86-64.so.2";

/* When ld.so runs a library as a program it points AT_ENTRY at the library's entry. */
int cg_is_helper_process(void) { return getauxval(AT_ENTRY) == (unsigned long)cg_helper_entry; }

int cg_make_private_dirs(const char *dir) {
    char path[CG_PATH_MAX];
    size_t len = strlen(dir);
    if (dir[0] != '/' || len >= sizeof path)
        return -1;
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        cg_sys_mkdir(path, 0700);
        *p = '/';
    }
    cg_sys_mkdir(path, 0700);
    struct stat st;
    uid_t euid = cg_sys_geteuid();
    if (cg_sys_stat_nofollow(path, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_uid != euid && st.st_uid != 0) ||
        (st.st_mode & 022) || cg_sys_access(path, W_OK | X_OK) != 0)
        return -1;
    return 0;
}

static void make_harmless(int urgent) {
    /* Everything the host had: ignored signals stay ignored across execve (SIGTERM ignored
     * by the host would make a service stop wait for us), and the host blocked them all
     * while starting us. */
    struct cg_kernel_sigaction dfl = {SIG_DFL, 0, 0, 0};
    for (int sig = 1; sig < NSIG; sig++)
        cg_sys_sigaction(sig, &dfl); /* refused for SIGKILL, SIGSTOP: they are default */
    cg_sigset none = 0;
    cg_sys_sigprocmask(SIG_SETMASK, &none, 0);
    cg_sys_prctl(PR_SET_NAME, (unsigned long)"crashguard", 0);
    if (!urgent) {
        /* Idle priority: only when nothing else wants the CPU or the disk.  Not at a crash:
         * the host waits for us there. */
        cg_sys_sched_setscheduler(SCHED_IDLE);
        CG_SC(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE << 13, 0, 0, 0);
    }
    /* A host's low address-space limit is no reason to fail here: ours is our own. */
    struct rlimit lim;
    if (cg_sys_prlimit(RLIMIT_AS, 0, &lim) == 0 && lim.rlim_cur != lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        cg_sys_prlimit(RLIMIT_AS, &lim, 0);
    }
}

static void say(int fd, const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        long w = cg_sys_write(fd, s, n);
        if (w <= 0)
            return;
        s += w, n -= (size_t)w;
    }
}

/* Run by a person rather than by a host: --version, --help, or a line saying what this is. */
static void not_a_helper(long argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        say(1, cg_version);
        say(1, "\n");
        cg_sys_exit_group(0);
    }
    int help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    int fd = help ? 1 : 2;
    say(fd, cg_version);
    say(fd, "\nlibcrashguard.so is loaded into programs with LD_PRELOAD, not run:\n"
            "  LD_PRELOAD=/path/to/libcrashguard.so program [args...]\n"
            "Options when run: --version, --help.  See libcrashguard(8) and crashguard(1).\n");
    cg_sys_exit_group(help ? 0 : 2);
}

__attribute__((noreturn, used)) void cg_helper_main(long argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--helper") != 0)
        not_a_helper(argc, argv);
    int urgent = 0;
    for (long i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--urgent") == 0)
            urgent = 1;
    make_harmless(urgent);
    /* Nowhere to write (no usable directory, no memfd of the host's): not worth starting a
     * Go runtime. */
    int usable = 0;
    for (long i = 1; i < argc && strcmp(argv[i], "--") != 0 && !usable; i++)
        usable = (strncmp(argv[i], "--dir=", 6) == 0 && cg_make_private_dirs(argv[i] + 6) == 0) ||
                 strncmp(argv[i], "--memfd=", 8) == 0;
    const char *why = usable ? cg_load_go_part(argc, argv) : "no usable cache directory (each must be ours, or root's, and writable by no one else)";
    if (why) {
        if (getenv("CRASHGUARD_DEBUG")) {
            char pid[12];
            say(2, "crashguard: helper ");
            say(2, cg_decimal(pid, (unsigned)cg_sys_getpid()));
            say(2, ": ");
            say(2, why);
            say(2, "\n");
        }
        cg_sys_exit_group(1);
    }
    /* The Go part's initialization runs on a thread of its runtime and exits the process
     * when its work is done (preload.Helper). */
    for (;;)
        cg_sys_sleep_ms(60 * 1000);
}

/* The entry point (ld.so jumps here with the stack as the kernel built it: argc, argv...).
 * Aligns the stack as the ABI wants for a call and calls cg_helper_main(argc, argv). */
__asm__(".text\n"
        ".globl cg_helper_entry\n"
        ".type cg_helper_entry,@function\n"
        "cg_helper_entry:\n"
        "\txor %ebp, %ebp\n"
        "\tmov (%rsp), %rdi\n"
        "\tlea 8(%rsp), %rsi\n"
        "\tand $-16, %rsp\n"
        "\tcall cg_helper_main\n"
        "\thlt\n"
        ".size cg_helper_entry, .-cg_helper_entry\n");
