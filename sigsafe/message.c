//go:build ignore

/*
 * message.c — the words that explain an abort, which the C library and the C++ runtime
 * printed on stderr before the signal: glibc's `Assertion 'y < 10' failed`, `free(): double
 * free detected in tcache 2`, `*** stack smashing detected ***`; libstdc++'s `terminate
 * called after throwing an instance of 'std::runtime_error'  what():  bad config`.  A report
 * file or a journal entry would not have them otherwise.
 *
 * Nothing is called: every word comes from memory, read with checked reads (memread.h), at
 * addresses found at load (report_setup.c).
 *
 *  - glibc 2.36 keeps the last fatal message in `struct abort_msg_s { unsigned size; char
 *    msg[]; } *__abort_msg`: __assert_fail_base, and __libc_message for the malloc checks,
 *    fortify (__chk_fail) and stack smashing (__stack_chk_fail) — all four measured.  A
 *    plain abort() leaves it unset.
 *  - libstdc++ keeps the exceptions a thread is handling in its __cxa_eh_globals: when
 *    std::terminate runs for an uncaught exception, __cxa_throw has called __cxa_begin_catch
 *    on it, so it is the first of caughtExceptions (and stays there through the verbose
 *    terminate handler's rethrow-and-catch).  Its __cxa_exception header holds the
 *    std::type_info, whose name (mangled) is a plain field.
 *  - what() is virtual, and calling it is not async-signal-safe in general: it is the
 *    program's code (it may allocate, lock, or read a corrupted object).  It is never called.
 *    Where the object's what() is libstdc++'s own — recognized by the address in its vtable,
 *    named by libstdc++'s symbol table — its result is read the way that function computes
 *    it: std::logic_error and std::runtime_error (and every standard exception derived from
 *    them that does not override it) return their message member, a reference-counted
 *    string; std::exception, std::bad_alloc and the like return a constant.  Any other
 *    what() is left unread, and the report says so.
 *
 * The libstdc++ layouts relied on (x86-64 and AArch64, LP64), with the tests that check them
 * (tests/reports_test.go, TestAbortMessages):
 *   __cxa_exception: exceptionType at 0, unwindHeader at 80 (exception_class at its start),
 *   112 bytes; the thrown object right after it.  __cxa_dependent_exception (from
 *   std::rethrow_exception): primaryException at 0, same size.  std::type_info: vptr, then
 *   the name.  std::runtime_error / logic_error: vptr, then a __cow_string whose pointer's
 *   target is preceded by its length and capacity.
 */
#include "context.h"

#include <signal.h>

#include "memread.h"
#include "symbols.h"

static struct cg_crash_message msg;
static const char not_a_class[] = "none: not a class type";
static struct cg_reader reader;

const struct cg_crash_message *cg_message(void) { return &msg; }

#define EXCEPTION_HEADER_SIZE 112
#define UNWIND_HEADER_OFFSET 80
#define GNU_CXX_CLASS 0x474e5543432b2b00ull /* "GNUCC++\0" */
#define GNU_CXX_DEPENDENT_CLASS 0x474e5543432b2b01ull

/* The NUL-terminated string at addr, at most max-1 bytes, read a word at a time at
 * word-aligned addresses (an aligned word never crosses into a page the string does not
 * reach).  Returns its length; *cut when it went on. */
static size_t read_string(uintptr_t addr, char *out, size_t max, int *cut) {
    size_t n = 0;
    *cut = 0;
    out[0] = 0;
    if (!addr)
        return 0;
    for (;;) {
        uintptr_t word_addr = (addr + n) & ~(uintptr_t)7, word;
        if (!read_word(&reader, word_addr, &word))
            break;
        for (uintptr_t i = (addr + n) - word_addr; i < 8; i++) {
            char c = (char)(word >> (8 * i));
            if (!c) {
                out[n] = 0;
                return n;
            }
            if (n == max - 1) {
                *cut = 1;
                out[n] = 0;
                return n;
            }
            out[n++] = c;
        }
    }
    out[n] = 0;
    return n;
}

static int read_u64(uintptr_t addr, uint64_t *v) {
    uintptr_t w;
    if (!read_word(&reader, addr, &w))
        return 0;
    *v = w;
    return 1;
}

/* ---- a type name: mangled, demangled where it is plain ---- */

static int put(char *out, size_t *n, size_t size, const char *s, size_t len) {
    if (*n + len >= size)
        return 0;
    for (size_t i = 0; i < len; i++)
        out[(*n)++] = s[i];
    out[*n] = 0;
    return 1;
}

/* <source-name> ::= <length> <identifier> */
static int source_name(const char **p, char *out, size_t *n, size_t size) {
    size_t len = 0;
    if (**p < '1' || **p > '9')
        return 0;
    while (**p >= '0' && **p <= '9')
        len = len * 10 + (size_t)(*(*p)++ - '0');
    for (size_t i = 0; i < len; i++)
        if (!(*p)[i])
            return 0;
    int ok = put(out, n, size, *p, len);
    *p += len;
    return ok;
}

/* A class type's name as the Itanium C++ ABI mangles it, for the plain cases: St13runtime_
 * error, 11ConfigError, N3app11ConfigErrorE, NSt3foo3barE.  Templates, substitutions and
 * local types are left mangled (`c++filt -t` turns them back): a full demangler on the
 * signal path is a lot of code for little. */
static int demangle_type(const char *m, char *out, size_t size) {
    size_t n = 0;
    const char *p = m;
    out[0] = 0;
    if (p[0] == 'S' && p[1] == 't') {
        p += 2;
        if (!put(out, &n, size, "std::", 5) || !source_name(&p, out, &n, size))
            return 0;
    } else if (*p == 'N') {
        p++;
        int first = 1;
        while (*p != 'E') {
            if (!first && !put(out, &n, size, "::", 2))
                return 0;
            if (first && p[0] == 'S' && p[1] == 't') {
                p += 2;
                if (!put(out, &n, size, "std", 3))
                    return 0;
            } else if (!source_name(&p, out, &n, size)) {
                return 0;
            }
            first = 0;
        }
        p++;
    } else if (!source_name(&p, out, &n, size)) {
        return 0;
    }
    return *p == 0;
}

/* The fundamental types and C strings, for `throw 42;` and `throw "message";`. */
static int builtin_type(const char *m, char *out, size_t size) {
    static const char *const names[][2] = {
        {"b", "bool"},          {"c", "char"},         {"a", "signed char"}, {"h", "unsigned char"},
        {"s", "short"},         {"t", "unsigned short"}, {"i", "int"},       {"j", "unsigned int"},
        {"l", "long"},          {"m", "unsigned long"}, {"x", "long long"},  {"y", "unsigned long long"},
        {"f", "float"},         {"d", "double"},       {"e", "long double"}, {"PKc", "char const*"},
        {"Pc", "char*"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t j = 0;
        while (m[j] && m[j] == names[i][0][j])
            j++;
        if (m[j] || names[i][0][j])
            continue;
        size_t n = 0;
        return put(out, &n, size, names[i][1], cg_strlen(names[i][1]));
    }
    return 0;
}

/* ---- what() ---- */

/* libstdc++'s own what()s this file can stand in for: by its symbol's name, either the
 * message member (0) or a constant. */
static const struct {
    const char *function;
    const char *constant;
} known_what[] = {
    {"std::runtime_error::what() const", 0},
    {"std::logic_error::what() const", 0},
    {"std::exception::what() const", "std::exception"},
    {"std::bad_exception::what() const", "std::bad_exception"},
    {"std::bad_alloc::what() const", "std::bad_alloc"},
    {"std::bad_array_new_length::what() const", "std::bad_array_new_length"},
    {"std::bad_cast::what() const", "std::bad_cast"},
    {"std::bad_typeid::what() const", "std::bad_typeid"},
};

static int is_libstdcxx(const struct cg_module *m) {
    const char *base = cg_base_name(m->path);
    const char *want = "libstdc++";
    for (int i = 0; want[i]; i++)
        if (base[i] != want[i])
            return 0;
    return 1;
}

/* A std::__cow_string's characters: the pointer's target is preceded by the rep's length
 * and capacity; both must agree with a terminated string. */
static void read_cow_string(uintptr_t field) {
    uint64_t p, length, capacity;
    if (!read_u64(field, &p) || p < 4096 + 24 || !read_u64(p - 24, &length) || !read_u64(p - 16, &capacity) ||
        length > capacity || capacity > (1u << 30)) {
        msg.what_note = "not read: the message member does not look like a string";
        return;
    }
    msg.what_len = read_string(p, msg.what, sizeof msg.what, &msg.what_cut);
    if (msg.what_len != length && !msg.what_cut) {
        msg.what_note = "not read: the message member does not look like a string";
        msg.what_len = 0;
        return;
    }
    msg.what_read = 1;
}

static void read_what(uintptr_t object) {
    const char *m = msg.mangled;
    /* throw "literal": the object is the pointer. */
    if ((m[0] == 'P' && m[1] == 'K' && m[2] == 'c' && !m[3]) || (m[0] == 'P' && m[1] == 'c' && !m[2])) {
        uint64_t s;
        if (read_u64(object, &s)) {
            msg.what_len = read_string(s, msg.what, sizeof msg.what, &msg.what_cut);
            msg.what_read = 1;
        }
        return;
    }
    /* Only class types have a vtable. */
    if (!(m[0] == 'N' || (m[0] == 'S' && m[1] == 't') || (m[0] >= '1' && m[0] <= '9'))) {
        msg.what_note = not_a_class; /* said in JSON; the message needs no words for it */
        return;
    }
    uint64_t vptr, fn;
    const struct cg_module *mod;
    if (!read_u64(object, &vptr) || !read_u64(vptr + 16, &fn) || !(mod = find_module(fn))) {
        msg.what_note = "not read: the object has no readable vtable";
        return;
    }
    uint64_t off = 1;
    size_t max = 0;
    const char *name = is_libstdcxx(mod) ? find_symbol(mod, fn - mod->bias, &off, &max) : 0;
    for (size_t i = 0; name && off == 0 && i < sizeof known_what / sizeof known_what[0]; i++) {
        size_t len = cg_strlen(known_what[i].function);
        if (cg_strnlen(name, max) != len)
            continue;
        size_t j = 0;
        while (j < len && name[j] == known_what[i].function[j])
            j++;
        if (j != len)
            continue;
        if (known_what[i].constant) {
            msg.what_len = cg_strlen(known_what[i].constant);
            for (size_t k = 0; k <= msg.what_len; k++)
                msg.what[k] = known_what[i].constant[k];
            msg.what_read = 1;
        } else {
            read_cow_string(object + 8);
        }
        return;
    }
    if (is_libstdcxx(mod) && !module_symtab(mod))
        msg.what_note = "not read: libstdc++'s symbol table is not available to recognize its what()";
    else
        msg.what_note = "not read: the type has its own what(), and calling it from a signal handler "
                        "is not safe";
}

static uintptr_t thread_pointer(void) {
#if defined(__x86_64__)
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp)); /* the TCB's self pointer */
    return tp;
#else
    return (uintptr_t)__builtin_thread_pointer();
#endif
}

static void read_exception(void) {
    if (cg_report_setup.cxa_state != 1)
        return;
    uint64_t header, cls, primary, type_info, name;
    uintptr_t globals = thread_pointer() + (uintptr_t)cg_report_setup.cxa_globals_tpoff;
    if (!read_u64(globals, &header) || !header || !read_u64(header + UNWIND_HEADER_OFFSET, &cls))
        return;
    if (cls == GNU_CXX_CLASS) {
        primary = header;
    } else if (cls == GNU_CXX_DEPENDENT_CLASS) {
        uint64_t object;
        if (!read_u64(header, &object) || object < EXCEPTION_HEADER_SIZE)
            return;
        primary = object - EXCEPTION_HEADER_SIZE;
    } else {
        return; /* another language's exception */
    }
    int cut;
    if (!read_u64(primary, &type_info) || !read_u64(type_info + 8, &name))
        return;
    read_string(name, msg.mangled, sizeof msg.mangled, &cut);
    if (msg.mangled[0] == '*') { /* a local type's name is marked for pointer comparison */
        size_t i = 0;
        do
            msg.mangled[i] = msg.mangled[i + 1];
        while (msg.mangled[i++]);
    }
    if (!msg.mangled[0])
        return;
    msg.exception = 1;
    if (!demangle_type(msg.mangled, msg.type, sizeof msg.type) && !builtin_type(msg.mangled, msg.type, sizeof msg.type))
        for (size_t i = 0; i < sizeof msg.type; i++)
            if (!(msg.type[i] = msg.mangled[i]))
                break;
    read_what(primary + EXCEPTION_HEADER_SIZE);
}

static void append(const char *s, size_t len) {
    for (size_t i = 0; i < len && msg.len < sizeof msg.text - 1; i++)
        msg.text[msg.len++] = s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i];
    msg.text[msg.len] = 0;
}

void cg_read_message(int sig) {
    msg.len = msg.abort_msg_len = msg.what_len = 0;
    msg.text[0] = msg.abort_msg[0] = msg.what[0] = msg.type[0] = msg.mangled[0] = 0;
    msg.abort_msg_cut = msg.exception = msg.what_read = msg.what_cut = 0;
    msg.what_note = 0;
    /* Only an abort explains itself: a message left from an earlier abort the program
     * survived (its own SIGABRT handler) says nothing about a later fault. */
    if (sig != SIGABRT)
        return;
    reader_init(&reader);
    uint64_t record;
    if (cg_report_setup.abort_msg && read_u64((uintptr_t)cg_report_setup.abort_msg, &record) && record) {
        /* struct abort_msg_s: unsigned int size, then the characters. */
        msg.abort_msg_len = read_string(record + 4, msg.abort_msg, sizeof msg.abort_msg, &msg.abort_msg_cut);
        while (msg.abort_msg_len && (msg.abort_msg[msg.abort_msg_len - 1] == '\n'))
            msg.abort_msg[--msg.abort_msg_len] = 0;
    }
    read_exception();
    if (msg.abort_msg_len) {
        append(msg.abort_msg, msg.abort_msg_len);
        if (msg.abort_msg_cut)
            append(" [...]", 6);
    } else if (msg.exception) {
        append("C++ exception ", 14);
        append(msg.type, cg_strlen(msg.type));
        if (msg.what_read) {
            append(": ", 2);
            append(msg.what, msg.what_len);
            if (msg.what_cut)
                append(" [...]", 6);
        } else if (msg.what_note && msg.what_note != not_a_class) {
            append(" (what() ", 9);
            append(msg.what_note, cg_strlen(msg.what_note));
            append(")", 1);
        }
    }
}
