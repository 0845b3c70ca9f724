/* plugin.c — a library opened with dlopen after start-up, crashing two calls deep. */
#define NOINLINE __attribute__((noinline))
volatile int plugin_sink;
#ifdef SECOND
const char plugin_variant[] = "second"; /* another build of the same code: another build-id */
#endif
NOINLINE static int plugin_inner(int *p, int n) {
    int local[8];
    for (int i = 0; i < 8; i++)
        local[i] = n + i;
    plugin_sink = local[n & 7];
    return *p + local[1];
}
NOINLINE int plugin_entry(int *p) {
    char buf[32];
    for (int i = 0; i < 32; i++)
        buf[i] = (char)i;
    plugin_sink = buf[7];
    return plugin_inner(p, buf[3]) + buf[9];
}
