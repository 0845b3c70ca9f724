// sweep.cpp — crashes inside callbacks that system libraries call, so the stack runs
// through libc and libstdc++ code built without frame pointers: `sweep MODE`.
#include <ftw.h>
#include <pthread.h>
#include <search.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

static volatile int *null_cell;
static volatile int sink;

extern "C" __attribute__((noinline)) int crash_in_callback(int x) { return *null_cell + x; }

static int compare_ints(const void *a, const void *b) {
    return crash_in_callback(*(const int *)a - *(const int *)b);
}
static int order_ints(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
static int visit_file(const char *, const struct stat *, int, struct FTW *) { return crash_in_callback(1); }
static void twalk_action(const void *, VISIT, int) { crash_in_callback(2); }
static void at_exit_handler() { crash_in_callback(3); }
static void once_routine() { crash_in_callback(4); }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "qsort";
    int values[64];
    for (int i = 0; i < 64; i++)
        values[i] = 64 - i;
    if (!strcmp(mode, "qsort"))
        qsort(values, 64, sizeof values[0], compare_ints);
    else if (!strcmp(mode, "bsearch")) {
        int key = 7;
        sink = bsearch(&key, values, 64, sizeof values[0], compare_ints) != 0;
    } else if (!strcmp(mode, "nftw"))
        nftw("/proc/self", visit_file, 4, FTW_PHYS);
    else if (!strcmp(mode, "twalk")) {
        void *root = 0;
        for (int i = 0; i < 8; i++)
            tsearch(&values[i], &root, order_ints);
        twalk(root, twalk_action);
    } else if (!strcmp(mode, "atexit")) {
        atexit(at_exit_handler);
        return 0;
    } else if (!strcmp(mode, "call_once")) {
        static std::once_flag flag;
        std::call_once(flag, once_routine);
    } else if (!strcmp(mode, "std_sort")) {
        std::vector<int> v(values, values + 64);
        std::sort(v.begin(), v.end(), [](int a, int b) { return crash_in_callback(a - b) < 0; });
    } else if (!strcmp(mode, "std_function")) {
        std::function<int(int)> f = crash_in_callback;
        std::map<int, std::function<int(int)>> table{{1, f}};
        sink = table.at(1)(5);
    } else if (!strcmp(mode, "terminate")) {
        struct Thrower {
            ~Thrower() noexcept(true) {}
            [[noreturn]] static void go() { throw 42; }
        };
        []() noexcept { Thrower::go(); }(); // std::terminate -> abort()
    }
    return 0;
}
