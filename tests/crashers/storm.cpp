// storm.cpp — the main thread crashes while 4 other threads sit in code that takes locks
// a careless handler would need: `storm malloc|dlopen|throw LIB`.
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdexcept>

static const char *mode, *lib;
static volatile int sink;

static void *busy(void *) {
    for (;;) {
        if (!strcmp(mode, "malloc")) {
            void *p[32];
            for (int i = 0; i < 32; i++)
                p[i] = malloc(64 + i * 40);
            for (int i = 0; i < 32; i++)
                free(p[i]);
        } else if (!strcmp(mode, "dlopen")) {
            void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
            if (h)
                dlclose(h);
        } else {
            try {
                throw std::runtime_error("storm");
            } catch (const std::exception &e) {
                sink += (int)strlen(e.what());
            }
        }
    }
    return nullptr;
}

static int *volatile nowhere;
extern "C" __attribute__((noinline)) int crash_amid_storm(int *p) { return *p + sink; }

int main(int argc, char **argv) {
    mode = argc > 1 ? argv[1] : "malloc";
    lib = argc > 2 ? argv[2] : "libm.so.6";
    pthread_t t;
    for (int i = 0; i < 4; i++)
        pthread_create(&t, nullptr, busy, nullptr);
    usleep(20 * 1000);
    return crash_amid_storm(nowhere);
}
