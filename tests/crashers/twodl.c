/* twodl.c — two dlopen()s in a row, the second found only after a long LD_LIBRARY_PATH
 * search, then a crash called back from the second library (review finding 7). */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) static void crash(void) { volatile int *p = 0; *p = 1; }
int main(int argc, char **argv) {
    void *a = dlopen(argc > 1 ? argv[1] : "liba.so", RTLD_NOW);
    void *b = dlopen("libb.so", RTLD_NOW);
    if (!a || !b) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    usleep(argc > 2 ? 300000 : 0);
    void (*f)(void (*)(void)) = (void (*)(void (*)(void)))dlsym(b, "b_calls_back");
    f(crash);
    return 0;
}
