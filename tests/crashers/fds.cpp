// fds.cpp — sleeps, then lists its own descriptors: a C++ host (libstdc++'s many mangled
// names make the precomputation allocate).
#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char **argv) {
    std::string delay = argc > 1 ? argv[1] : "500";
    usleep(std::atoi(delay.c_str()) * 1000);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 2;
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        std::string path = std::string("/proc/self/fd/") + e->d_name;
        char target[512];
        ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            std::printf("fd %s %s\n", e->d_name, target);
        }
    }
    closedir(d);
}
