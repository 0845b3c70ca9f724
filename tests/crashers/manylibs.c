/* manylibs.c — `manylibs N DIR`: dlopen()s DIR/lib0.so ... DIR/lib<N-1>.so (copies of one
 * library, each a module of its own), then calls into the last one, which crashes. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int n = atoi(argv[1]);
    void *last = 0;
    char path[4096];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/lib%d.so", argv[2], i);
        if (!(last = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
            fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
            return 3;
        }
    }
    int (*entry)(int *) = (int (*)(int *))dlsym(last, "plugin_entry");
    return entry(argc > 100 ? &n : NULL);
}
