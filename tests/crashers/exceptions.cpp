// exceptions.cpp — uncaught C++ exceptions (tests/reports_test.go): what the report can say
// about them without calling anything, and that different throws group apart.
#include <exception>
#include <stdexcept>
#include <string.h>
#include <string>
#include <thread>

#define NOINLINE __attribute__((noinline))

namespace app {
struct ParseError : std::logic_error {
    using std::logic_error::logic_error;
};
// what() of its own: the report must not call it.
struct Custom : std::exception {
    const char *what() const noexcept override { return "computed by the program"; }
};
}  // namespace app

NOINLINE void load_config(int n) {
    if (n > 0)
        throw std::runtime_error("bad config");
}
NOINLINE void parse_header(int n) {
    if (n > 0)
        throw app::ParseError("header too short: " + std::to_string(n) + " bytes");
}
NOINLINE void throw_custom(int n) {
    if (n > 0)
        throw app::Custom();
}
NOINLINE void throw_int(int n) {
    if (n > 0)
        throw 42;
}
NOINLINE void throw_literal(int n) {
    if (n > 0)
        throw "a string literal";
}
NOINLINE void rethrow_later(int n) {
    std::exception_ptr p;
    try {
        std::string s;
        s.at((size_t)n + 5);
    } catch (...) {
        p = std::current_exception();
    }
    std::rethrow_exception(p);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "runtime";
    if (!strcmp(mode, "runtime"))
        load_config(argc);
    if (!strcmp(mode, "parse"))
        parse_header(argc);
    if (!strcmp(mode, "custom"))
        throw_custom(argc);
    if (!strcmp(mode, "int"))
        throw_int(argc);
    if (!strcmp(mode, "literal"))
        throw_literal(argc);
    if (!strcmp(mode, "rethrow"))
        rethrow_later(argc);
    if (!strcmp(mode, "thread")) {
        std::thread t([argc] { load_config(argc); });
        t.join();
    }
    return 2;
}
