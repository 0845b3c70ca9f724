// template.cpp — a crash inside a C++ template method, for demangled names.
#include <cstdio>

namespace storage {
template <typename T> struct Box {
    T *value;
    __attribute__((noinline)) T read_value(int scale) const { return *value * scale; }
};
} // namespace storage

__attribute__((noinline)) int use_box(const storage::Box<int> &b) { return b.read_value(3) + 1; }

int main() {
    storage::Box<int> b{nullptr};
    std::printf("%d\n", use_box(b));
}
