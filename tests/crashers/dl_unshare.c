/* dl_unshare.c — dlopen()s a library, then needs to be single-threaded:
 * unshare(CLONE_NEWUSER) fails with EINVAL in a multi-threaded process (review finding 8). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static int threads(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}
int main(void) {
    printf("threads before dlopen: %d\n", threads());
    void *h = dlopen("libm.so.6", RTLD_NOW);
    usleep(100 * 1000);
    printf("dlopen %s; threads after dlopen: %d\n", h ? "ok" : "failed", threads());
    if (unshare(CLONE_NEWUSER) != 0) {
        printf("unshare(CLONE_NEWUSER): %s\n", strerror(errno));
        return 1;
    }
    printf("unshare(CLONE_NEWUSER): ok\n");
    return 0;
}
