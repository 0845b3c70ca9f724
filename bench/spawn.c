/* spawn.c — runs a program N times with posix_spawn and reports, from wait4's rusage and
 * the clock: median wall time (us), mean user+sys CPU (us), median max RSS (KiB).
 *   spawn N [VAR=value...] program [args...]
 * The VAR=value pairs are added to the child's environment only: were this harness itself
 * preloaded, the child's max RSS would include ours (it is kept across exec). */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int n = atoi(argv[1]);
    int first = 2;
    char *envp[256];
    int ne = 0;
    for (char **e = environ; *e && ne < 200; e++)
        envp[ne++] = *e;
    while (first < argc && strchr(argv[first], '=') && ne < 255)
        envp[ne++] = argv[first++];
    envp[ne] = 0;
    double *wall = calloc((size_t)n, sizeof *wall), *rss = calloc((size_t)n, sizeof *rss), cpu = 0;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        pid_t pid;
        int status;
        struct rusage ru;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (posix_spawn(&pid, argv[first], &fa, 0, argv + first, envp) != 0)
            return 1;
        wait4(pid, &status, 0, &ru);
        clock_gettime(CLOCK_MONOTONIC, &b);
        wall[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
        cpu += ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
        rss[i] = (double)ru.ru_maxrss;
    }
    qsort(wall, (size_t)n, sizeof *wall, cmp);
    qsort(rss, (size_t)n, sizeof *rss, cmp);
    printf("%.1f %.1f %.0f\n", wall[n / 2], cpu / n, rss[n / 2]);
    return 0;
}
