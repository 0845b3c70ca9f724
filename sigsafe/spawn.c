//go:build ignore

/*
 * spawn.c — start the helper process that computes missing tables (helper_main.c runs in
 * it), from the constructor, the dlopen interposer or the crash handler.
 *
 * The host must not notice: no thread, no SIGCHLD, nothing its wait() can return, no zombie,
 * none of its descriptors held open, no page copying (a host may be large), nothing that
 * depends on the state of libc locks (the handler may run in a thread that holds malloc's).
 * So the helper is started with raw clone() + execve() of the dynamic loader running
 * libcrashguard.so as a program:
 *
 *   host ──clone(CLONE_VM|CLONE_VFORK, no exit signal)──► relay ──clone(CLONE_VM|CLONE_VFORK)──► helper
 *                                                           │ exits as soon as the helper     │ execve(ld.so
 *   host waits for the relay (__WCLONE), reaps it            │ has exec'd                      │   libcrashguard.so)
 *
 * The relay has no exit signal, so the host's own wait(-1) and SIGCHLD never see it, and the
 * host reaps it at once.  The helper, orphaned by the relay, belongs to init (or the nearest
 * subreaper) from its first instruction.
 *
 * Where the host *is* that reaper (PID 1 of a namespace, a subreaper), the orphan would come
 * back to it and show up in its wait() — and a child of its own would too, exit signal or
 * not: execve gives every process the exit signal SIGCHLD again (the kernel's de_thread).
 * So such a host starts no helper while it lives; at a crash it does (it is about to die),
 * and its tables come from the cache, `crashguard warm`, or the helpers of its children.
 *
 * Both children run on static stacks in the host's memory until execve, with every signal
 * blocked (the host thread's mask is restored when they are gone) and the fault signals at
 * their defaults (a copy of the host's handlers must never run there); they make raw system
 * calls only (sys.h): they share the host thread's TLS, errno included.  The glibc clone()
 * wrapper only switches stacks (it touches no TLS in the child).  Async-signal-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "out.h"
#include "precompute.h"
#include "sys.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE 2
#endif

/* At most this much argument text: ARG_MAX is far larger, but a module list this long (some
 * 1,500 paths) is never needed at once; what does not fit waits for the next helper. */
#define ARGS_MAX (128 * 1024)
#define ARGV_MAX (CG_MAX_MODULES + 16)

static _Atomic int spawning;
static char args[ARGS_MAX + 1]; /* the last byte: room for the last argument's NUL */
static char *argv[ARGV_MAX];
static char *envp[CG_HELPER_ENV_MAX + 1];
static char relay_stack[16384] __attribute__((aligned(16)));
static char helper_stack[16384] __attribute__((aligned(16)));
static _Atomic pid_t helper_pid;
static _Atomic int exec_error; /* set by a child whose execve failed */
static struct cg_build_locks locks; /* open while a helper is being started */
static int archive_fd = -1; /* the memfd handed to the helper being started, or -1 */
static char probe_path[CG_PATH_MAX];
/* Modules a helper of this process was asked for: never asked twice (a module a helper
 * could not build would otherwise be asked of every later one). */
static uint8_t asked[CG_MAX_MODULES];

static size_t put(size_t n, const char *s) {
    while (*s && n < ARGS_MAX - 1)
        args[n++] = *s++;
    return n;
}

/* "ID:PATH" — what dwarfcache/helper.go parses. */
static size_t put_module(size_t n, const struct cg_module *m) {
    static const char hex[] = "0123456789abcdef";
    for (uint32_t i = 0; i < m->build_id_len && n < ARGS_MAX - 2; i++) {
        args[n++] = hex[m->build_id[i] >> 4];
        args[n++] = hex[m->build_id[i] & 15];
    }
    n = put(n, ":");
    return put(n, m->path[0] ? m->path : cg_executable_path());
}

/* Module i has no tables, no helper builds them now, and none of ours was asked for them. */
static int wanted(uint32_t i) {
    const struct cg_module *m = cg_module_at(i);
    return m->hi && m->build_id_len >= 2 && !asked[i] &&
           atomic_load_explicit(&m->tables[CG_TABLE_SYMBOLS].state, memory_order_acquire) == CG_SYMTAB_PENDING &&
           !cg_tables_being_built(&locks, m);
}

static int anything_wanted(void) {
    uint32_t count = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    for (uint32_t i = 0; i < count; i++)
        if (wanted(i))
            return 1;
    return 0;
}

/* Builds the helper's argv; returns how many modules it lists (the wanted ones). */
static int build_argv(int urgent) {
    int argc = 0, modules = 0;
    size_t n = 0;
#define ARG(...)                                  \
    do {                                          \
        argv[argc++] = args + n;                  \
        const char *parts[] = {__VA_ARGS__};      \
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) \
            n = put(n, parts[i]);                 \
        args[n++] = 0;                            \
    } while (0)
    /* ld.so runs the library as a program; --argv0 names the helper in ps. */
    ARG(cg_precompute.loader);
    ARG("--argv0");
    ARG("crashguard");
    ARG(cg_precompute.library);
    ARG("--helper");
    /* Its own file: the loader names the program it runs after --argv0, not by its path. */
    ARG("--library=", cg_precompute.library);
    if (urgent)
        ARG("--urgent");
    for (int d = 0; d < cg_precompute.writable_dirs; d++)
        ARG("--dir=", cg_precompute.dirs[d]);
    if (archive_fd >= 0)
        ARG("--memfd=3");
    ARG("--");
    uint32_t count = atomic_load_explicit(&cg_module_count, memory_order_acquire);
    for (uint32_t i = 0; i < count && argc < ARGV_MAX - 1 && n < ARGS_MAX - 4 * CG_PATH_MAX; i++) {
        if (!wanted(i))
            continue;
        asked[i] = 1;
        argv[argc++] = args + n;
        n = put_module(n, cg_module_at(i));
        args[n++] = 0;
        modules++;
    }
#undef ARG
    argv[argc] = 0;
    int e = 0;
    for (int i = 0; i < CG_HELPER_ENV_MAX && cg_precompute.env[i]; i++)
        envp[e++] = (char *)cg_precompute.env[i];
    envp[e] = 0;
    return modules;
}

/* In both children: a synchronous signal must end the child, not run a copy of the host's
 * handler on the host's memory (a seccomp filter's SIGSYS, a fault of ours). */
static void default_fault_signals(void) {
    static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS};
    struct cg_kernel_sigaction dfl = {SIG_DFL, 0, 0, ~0ull};
    for (unsigned i = 0; i < sizeof faults / sizeof faults[0]; i++)
        cg_sys_sigaction(faults[i], &dfl);
}

static int exec_helper(void *unused) {
    (void)unused;
    /* Nothing of the host's: stdin, stdout and stderr on /dev/null (a parent reading the
     * host's output until EOF must not wait for us), every other descriptor closed. */
    int null = cg_sys_open("/dev/null", O_RDWR, 0);
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        if (fd != null && (fd != 2 || cg_config.debug != 1)) /* CRASHGUARD_DEBUG=1: lines to stderr */
            cg_sys_dup3(null, fd);
    /* The memfd archive, if any, as fd 3 (dup2 to itself would keep close-on-exec). */
    if (archive_fd == 3)
        cg_sys_fcntl(3, F_SETFD, 0);
    else if (archive_fd >= 0)
        cg_sys_dup3(archive_fd, 3);
    int first_closed = archive_fd >= 0 ? 4 : 3;
    if (cg_sys_close_range((unsigned)first_closed, ~0u) != 0)
        for (int fd = first_closed; fd < 4096; fd++)
            cg_sys_close(fd);
    /* Its own session: no terminal signals, no job control of the host's shell.  And never
     * more privilege than the host had. */
    cg_sys_setsid();
    cg_sys_prctl(PR_SET_NO_NEW_PRIVS, 1, 0);
    int failed = cg_sys_execve(argv[0], argv, envp);
    atomic_store(&exec_error, failed < 0 ? -failed : ENOEXEC);
    cg_sys_exit(127);
}

static int relay(void *unused) {
    (void)unused;
    default_fault_signals();
    long pid = clone(exec_helper, helper_stack + sizeof helper_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, 0);
    atomic_store(&helper_pid, pid > 0 ? (pid_t)pid : 0);
    cg_sys_exit(pid > 0 ? 0 : 1);
}

/* Whether a helper could write dir: it exists and is a directory of ours (or root's) no one
 * else may write, or its nearest existing ancestor lets us create it. */
static int usable_dir(const char *dir) {
    size_t n = cg_strlen(dir);
    if (n == 0 || n >= sizeof probe_path)
        return 0;
    __builtin_memcpy(probe_path, dir, n + 1);
    uid_t euid = cg_sys_geteuid();
    for (int depth = 0;; depth++) {
        struct stat st;
        if (cg_sys_stat(probe_path, &st) == 0)
            return S_ISDIR(st.st_mode) && cg_sys_access(probe_path, W_OK | X_OK) == 0 &&
                   (depth > 0 || ((st.st_uid == euid || st.st_uid == 0) && !(st.st_mode & 022)));
        while (n > 1 && probe_path[n - 1] != '/')
            n--;
        if (n <= 1)
            return 0;
        probe_path[--n] = 0;
    }
}

/* Where no cache directory can be used (a read-only file system, a home that is not there),
 * the tables still reach us: the helper writes them into a memfd we map first.  Once per
 * helper, at most CG_ARCHIVES per process (the mapping costs address space, not memory, until
 * the helper writes). */
static void open_archive_if_needed(void) {
    archive_fd = -1;
    for (int d = 0; d < cg_precompute.writable_dirs; d++)
        if (usable_dir(cg_precompute.dirs[d]))
            return;
    int n = atomic_load(&cg_precompute.narchives);
    if (n >= CG_ARCHIVES)
        return;
    int fd = cg_sys_memfd_create("crashguard-tables", MFD_CLOEXEC);
    if (fd < 0)
        return;
    void *map = MAP_FAILED;
    if (cg_sys_ftruncate(fd, (off_t)CG_ARCHIVE_SIZE) == 0)
        map = cg_sys_mmap(0, (size_t)CG_ARCHIVE_SIZE, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (map == MAP_FAILED || CG_MMAP_FAILED(map)) {
        cg_sys_close(fd);
        return;
    }
    cg_precompute.archives[n] = map;
    atomic_store(&cg_precompute.narchives, n + 1);
    archive_fd = fd;
}

pid_t cg_spawn_helper(int urgent) {
    if (cg_precompute.off_reason || !cg_precompute.writable_dirs || !cg_precompute.loader[0] ||
        !cg_precompute.library[0])
        return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&spawning, &expected, 1))
        return 0; /* another thread is starting one */
    int saved_errno = errno;
    pid_t result = 0;
    /* Orphans come back to a reaper: only a dying one may have them (see the top). */
    int subreaper = 0;
    cg_sys_prctl(PR_GET_CHILD_SUBREAPER, (unsigned long)&subreaper, 0);
    cg_precompute.reaper = cg_sys_getpid() == 1 || subreaper;
    cg_open_build_locks(&locks);
    int start = (urgent || !cg_precompute.reaper) && anything_wanted();
    if (start)
        open_archive_if_needed();
    if (start && build_argv(urgent) > 0) {
        cg_sigset all = ~0ull, old;
        cg_sys_sigprocmask(SIG_SETMASK, &all, &old);
        atomic_store(&helper_pid, 0);
        atomic_store(&exec_error, 0);
        long pid = clone(relay, relay_stack + sizeof relay_stack, CLONE_VM | CLONE_VFORK, 0);
        if (pid > 0) {
            int status;
            while (cg_sys_wait4((pid_t)pid, &status, __WCLONE) == -EINTR)
                ;
        }
        int failed = atomic_load(&exec_error);
        if (failed)
            atomic_store(&helper_pid, 0);
        cg_precompute.spawn_error = failed ? failed : pid > 0 && atomic_load(&helper_pid) ? 0 : (pid < 0 ? errno : ECHILD);
        cg_sys_sigprocmask(SIG_SETMASK, &old, 0);
        result = atomic_load(&helper_pid);
        if (result > 0) {
            atomic_store(&cg_precompute.helper, result);
            cg_precompute.helper_finished = 0;
        } else {
            result = -1;
        }
    }
    cg_close_build_locks(&locks);
    if (archive_fd >= 0)
        cg_sys_close(archive_fd); /* the helper has its own; our mapping stays */
    archive_fd = -1;
    atomic_store(&spawning, 0);
    errno = saved_errno;
    return result;
}

int cg_helper_running(void) {
    pid_t pid = atomic_load(&cg_precompute.helper);
    if (pid <= 0)
        return 0;
    int gone = cg_sys_kill(pid, 0) == -ESRCH;
    if (gone) {
        atomic_store(&cg_precompute.helper, 0);
        cg_precompute.helper_finished = 1;
    }
    return !gone;
}
