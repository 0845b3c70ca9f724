// minidump.cpp — a C++ crash for the minidump tests, built without frame pointers: a NULL
// read inside a template member called through a virtual function, below a lambda.
#include <cstdio>
#include <functional>

namespace store {
template <typename T> struct Box {
    T *p;
    __attribute__((noinline)) T read_value(int bias) const { return *p + bias; }
};

struct Shelf {
    virtual int total() const = 0;
    virtual ~Shelf() {}
};

struct NullShelf : Shelf {
    Box<long> box{nullptr};
    __attribute__((noinline)) int total() const override { return (int)box.read_value(1) + 1; }
};
} // namespace store

__attribute__((noinline)) int count_all(const store::Shelf &s) { return s.total() * 2; }

int main(int argc, char **) {
    store::NullShelf shelf;
    std::function<int()> f = [&] { return count_all(shelf) + argc; };
    std::printf("%d\n", f());
    return 0;
}
