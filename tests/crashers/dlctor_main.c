/* dlctor_main.c — linked with libdlctor.so: lists its tasks, then crashes in dlctor_crash(). */
#include <dirent.h>
#include <stdio.h>
void dlctor_dummy(void);
__attribute__((noinline)) int dlctor_crash(int *p) { return *p; }
int main(int argc, char **argv) {
    (void)argv;
    dlctor_dummy();
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    printf("tasks: %d\n", n);
    fflush(stdout);
    return argc > 1 ? dlctor_crash(0) : 0;
}
