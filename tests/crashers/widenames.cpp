// widenames.cpp — a crashing thread whose backtrace alone is larger than the journal's
// bound (tests/reports_test.go): 100 frames of distinct template instantiations, each
// named with a long parameter type (some 1,400 characters demangled).
#include <map>
#include <string>
#include <vector>

using Inner = std::map<std::string, std::vector<std::map<std::string, std::vector<std::string>>>>;

template <int N>
struct Descend {
    static __attribute__((noinline)) int go(Inner *w, volatile int *p) { return Descend<N - 1>::go(w, p) + 1; }
};
template <>
struct Descend<0> {
    static __attribute__((noinline)) int go(Inner *, volatile int *p) { return *p; }
};

int main() {
    Inner w;
    return Descend<99>::go(&w, nullptr);
}
