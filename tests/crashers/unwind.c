/* unwind.c — crashes in code without frame pointers: `unwind MODE`.  Built with
 * -O2 -fomit-frame-pointer -fasynchronous-unwind-tables -fno-optimize-sibling-calls; every
 * function that must appear is noinline with a real stack frame (an array it uses). */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
volatile int sink;

NOINLINE int fault_here(int *p, int n) {
    int local[8];
    for (int i = 0; i < 8; i++)
        local[i] = n * i;
    sink = local[n & 7];
    return *p + local[3];
}
NOINLINE int second_level(int *p, int n) {
    char buf[64];
    memset(buf, n, sizeof buf);
    sink = buf[n & 63];
    return fault_here(p, n + 1) + buf[5];
}
NOINLINE int first_level(int *p, int n) {
    long arr[16];
    for (int i = 0; i < 16; i++)
        arr[i] = i * n;
    sink = (int)arr[n & 15];
    return second_level(p, n + 1) + (int)arr[2];
}

NOINLINE size_t measure_null(const char *s) { return strlen(s) + 1; }
/* Through a volatile pointer: the compiler cannot inline it, so the fault is inside libc. */
void *(*volatile libc_memcpy)(void *, const void *, size_t) = memcpy;
NOINLINE void copy_to_null(char *dst, const char *src) {
    libc_memcpy(dst, src, 64);
    sink = dst[0];
}

NOINLINE __attribute__((noreturn)) void die_badly(int *p) {
    sink = *p;
    abort();
}
NOINLINE int calls_noreturn(int *p, int n) {
    if (n > 0)
        die_badly(p);
    return n;
}

NOINLINE int realigned(int *p) {
    _Alignas(64) char big[256];
    memset(big, 1, sizeof big);
    sink = big[7];
    return *p + big[3];
}

NOINLINE void usr1_in_handler(int sig) {
    int arr[4] = {sig, 1, 2, 3};
    sink = arr[sig & 3];
    sink = *(volatile int *)0;
}
NOINLINE void raise_usr1(void) {
    signal(SIGUSR1, usr1_in_handler);
    raise(SIGUSR1);
    sink = 1;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "chain";
    int *null = argc > 100 ? &argc : 0;
    if (!strcmp(mode, "chain"))
        return first_level(null, argc);
    if (!strcmp(mode, "strlen"))
        return (int)measure_null((const char *)null);
    if (!strcmp(mode, "memcpy")) {
        copy_to_null((char *)null, mode);
        return 0;
    }
    if (!strcmp(mode, "noreturn"))
        return calls_noreturn(null, argc);
    if (!strcmp(mode, "realign"))
        return realigned(null);
    if (!strcmp(mode, "handler")) {
        raise_usr1();
        return 0;
    }
    if (!strcmp(mode, "dlopen")) {
        usleep(300 * 1000); /* tables of the start-up modules first; the plugin's come later */
        void *h = dlopen(argv[2], RTLD_NOW);
        if (!h) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            return 3;
        }
        int (*entry)(int *) = (int (*)(int *))dlsym(h, "plugin_entry");
        usleep(300 * 1000);
        return entry(null);
    }
    if (!strcmp(mode, "dlopen-loop") && argc > 2) {
        /* 300 open/close cycles (a plugin host reloading), then a crash in the library. */
        for (int i = 0; i < 300; i++) {
            void *h = dlopen(argv[2], RTLD_NOW);
            if (!h)
                return 3;
            usleep(4000);
            dlclose(h);
            usleep(4000);
        }
        usleep(300 * 1000);
        FILE *maps = fopen("/proc/self/maps", "r");
        int lines = 0, c;
        while (maps && (c = fgetc(maps)) != EOF)
            lines += c == '\n';
        printf("mappings %d\n", lines);
        fflush(stdout);
        void *h = dlopen(argv[2], RTLD_NOW);
        int (*entry)(int *) = (int (*)(int *))dlsym(h, "plugin_entry");
        usleep(300 * 1000);
        return entry(null);
    }
    if (!strcmp(mode, "dlclose") && argc > 3) {
        /* Open, close, then open another library, likely at the same addresses: the crash
         * must be attributed to the second one, never to the unloaded first. */
        void *first = dlopen(argv[2], RTLD_NOW);
        if (!first || dlclose(first) != 0)
            return 3;
        usleep(300 * 1000);
        void *second = dlopen(argv[3], RTLD_NOW);
        if (!second)
            return 4;
        int (*entry)(int *) = (int (*)(int *))dlsym(second, "plugin_entry");
        usleep(300 * 1000);
        return entry(null);
    }
    return 2;
}
