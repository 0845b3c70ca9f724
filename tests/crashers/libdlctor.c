/* A library whose constructor calls dlopen: it runs before ours (review finding 12). */
#include <dlfcn.h>
__attribute__((constructor)) static void init(void) { dlopen("libm.so.6", RTLD_NOW); }
void dlctor_dummy(void) {}
