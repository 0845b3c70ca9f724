/* status.c — prints its thread count, resident size and how many of its mappings hold
 * crashguard's Go part ("GoPart:", the image go_part.c loads from the cache directory or a
 * memfd), then `status crash` dereferences
 * NULL; `status sleep MS` sleeps first; `status sleep-crash MS` sleeps, then crashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_status(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8) || !strncmp(line, "VmRSS:", 6))
            fputs(line, stdout);
    if (f)
        fclose(f);
    int go_part = 0;
    f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f))
        go_part += strstr(line, "/go-part-") != NULL || strstr(line, "memfd:crashguard-go") != NULL;
    if (f)
        fclose(f);
    printf("GoPart:\t%d\n", go_part);
    fflush(stdout);
}

__attribute__((noinline)) int status_crash(int *p) { return *p + 1; }

int main(int argc, char **argv) {
    if (argc > 2 && !strncmp(argv[1], "sleep", 5))
        usleep(atoi(argv[2]) * 1000);
    print_status();
    if (argc > 1 && (!strcmp(argv[1], "crash") || !strcmp(argv[1], "sleep-crash")))
        return status_crash(argc > 100 ? &argc : NULL);
    return 0;
}
