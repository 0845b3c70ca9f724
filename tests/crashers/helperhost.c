/* helperhost.c — a host that looks at what a helper process could change for it.
 *
 *   helperhost threads-dlopen LIB   threads before and after dlopen(LIB), and 300 ms later
 *   helperhost children MS          forks a child that exits 7, reaps with wait() until ECHILD,
 *                                   sleeps MS, reaps again; prints its SIGCHLD count, what wait()
 *                                   returned, the flags of its own SIGUSR1 handler, and the
 *                                   state of every child it still has (from /proc)
 *   helperhost fork-crash           forks at once; the child crashes in child_crashes(), the
 *                                   parent exits with 128 + the child's signal
 *   helperhost crash                crashes in helper_host_crashes()
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t sigchld_count;
static void on_sigchld(int sig) { (void)sig; sigchld_count++; }
static void on_usr1(int sig) { (void)sig; }

static int threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8))
            n = atoi(line + 8);
    if (f)
        fclose(f);
    return n;
}

/* Every child of every thread of ours, with its state letter (Z: a zombie). */
static void print_children(void) {
    DIR *tasks = opendir("/proc/self/task");
    struct dirent *t;
    printf("children:");
    while (tasks && (t = readdir(tasks))) {
        if (t->d_name[0] == '.')
            continue;
        char path[128], pids[4096] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/children", t->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(pids, sizeof pids, f))
                pids[0] = 0;
            fclose(f);
        }
        for (char *p = strtok(pids, " \n"); p; p = strtok(0, " \n")) {
            char stat[512] = "", comm[64] = "?";
            char state = '?';
            snprintf(path, sizeof path, "/proc/%s/stat", p);
            FILE *s = fopen(path, "r");
            if (s && fgets(stat, sizeof stat, s)) {
                char *close = strrchr(stat, ')'), *open = strchr(stat, '(');
                if (close && open && close - open < 63) {
                    memcpy(comm, open + 1, (size_t)(close - open - 1));
                    comm[close - open - 1] = 0;
                    state = close[2];
                }
            }
            if (s)
                fclose(s);
            printf(" %s:%s:%c", p, comm, state);
        }
    }
    if (tasks)
        closedir(tasks);
    printf("\n");
}

__attribute__((noinline)) int helper_host_crashes(int *p) { return *p + 1; }
__attribute__((noinline)) int child_crashes(int *p) { return *p + 2; }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, 0, _IONBF, 0);
    if (!strcmp(mode, "threads-dlopen") && argc > 2) {
        printf("before: %d\n", threads());
        void *h = dlopen(argv[2], RTLD_NOW);
        printf("dlopen: %s\n", h ? "ok" : dlerror());
        printf("after: %d\n", threads());
        void *h2 = dlopen("libm.so.6", RTLD_NOW); /* a second one: the first's catch-up */
        usleep(300 * 1000);
        printf("later: %d %s\n", threads(), h2 ? "ok" : "no libm");
        return 0;
    }
    if (!strcmp(mode, "children") && argc > 2) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigchld;
        sigaction(SIGCHLD, &sa, 0);
        sa.sa_handler = on_usr1;
        sa.sa_flags = SA_RESTART | SA_NODEFER;
        sigaction(SIGUSR1, &sa, 0);
        pid_t own = fork();
        if (own == 0)
            _exit(7);
        printf("own: %d\n", (int)own);
        int status;
        pid_t got;
        printf("waited:");
        while ((got = wait(&status)) > 0 || (got < 0 && errno == EINTR))
            if (got > 0)
                printf(" %d:%d", (int)got, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        usleep(atoi(argv[2]) * 1000);
        while ((got = waitpid(-1, &status, WNOHANG)) > 0)
            printf(" %d:%d", (int)got, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        printf("\nsigchld: %d\n", (int)sigchld_count);
        struct sigaction now;
        sigaction(SIGUSR1, 0, &now);
        printf("usr1 flags: %#x\n", (unsigned)now.sa_flags);
        print_children();
        return 0;
    }
    if (!strcmp(mode, "fork-crash")) {
        pid_t child = fork();
        if (child == 0)
            return child_crashes(argc > 100 ? &argc : NULL);
        int status;
        waitpid(child, &status, 0);
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    }
    if (!strcmp(mode, "crash"))
        return helper_host_crashes(argc > 100 ? &argc : NULL);
    fprintf(stderr, "usage: helperhost threads-dlopen LIB | children MS | fork-crash | crash\n");
    return 2;
}
