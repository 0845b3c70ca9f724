/* Load-time helpers shared by the constructors and the pthread_create interposer. */
#ifndef CG_INTERPOSE_H
#define CG_INTERPOSE_H
#include <stddef.h>
/* Bytes of each thread's alternate signal stack (pthread_interpose.c says why so many). */
size_t cg_alt_stack_size(void);
/* Gives the calling thread an alternate signal stack from the pool unless it has one;
 * returns the stack, or 0.  For the main thread: never released. */
void *cg_install_alt_stack(void);
/* Joins n strings into out; returns 1 when the whole result fit (out is always terminated).
 * Load-time code uses it instead of snprintf: printf's code is never touched by many small
 * programs, and every region of libc we touch becomes resident (64 KiB at a time: fault-
 * around) in every process that preloads us. */
#include <string.h>
static inline int cg_join(char *out, size_t size, const char *const *parts, int n) {
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(parts[i]);
        if (used + len >= size) {
            memcpy(out + used, parts[i], size - 1 - used);
            out[size - 1] = 0;
            return 0;
        }
        memcpy(out + used, parts[i], len);
        used += len;
    }
    out[used] = 0;
    return 1;
}
/* v in decimal, in buf (12 bytes); returns buf. */
static inline const char *cg_decimal(char buf[12], unsigned v) {
    char *p = buf + 11;
    *p = 0;
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) && p > buf);
    return p;
}
#define CG_JOIN(out, size, ...) \
    cg_join(out, size, (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

#include "sigsafe/crashguard.h"
/* Resolves where tables are cached and what a helper needs (precompute_setup.c). */
void cg_setup_precompute(void);
/* In the helper: loads the Go part (go_part.c), which reads argv; returns 0, or why not. */
const char *cg_load_go_part(long argc, char **argv);
/* mkdir -p, new directories 0700; then the directory must be ours (or root's) and writable
 * by no one else.  Returns 0 when it is usable. */
int cg_make_private_dirs(const char *dir);
/* "crashguard VERSION (build HASH)", as `crashguard --version` prints it (helper_main.c). */
extern const char cg_version[];
/* The constructor runs in the helper process too (libcrashguard.so is its program). */
int cg_is_helper_process(void);
/* The C library's sigaction, past our interposer (constructors and the handler use it). */
#include <signal.h>
int cg_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* Our handler now holds sig in the kernel; ours is what to put back on a SIG_DFL request. */
void cg_hold_signal(int sig, const struct sigaction *ours);
/* The program's own disposition for sig (an ignore, or a handler a library installed before
 * us) stays in the kernel; ours stands in for it only once the program asks for SIG_DFL. */
void cg_stand_by_signal(int sig, const struct sigaction *ours);
/* doublestar-style globs (globmatch.c); a list is separated by ':' or ','. */
int cg_glob_match(const char *pattern, const char *path);
int cg_glob_list_match(const char *list, const char *path);
int cg_glob_valid(const char *pattern);
/* Configuration values (config.c): each sets cg_config, notes what was invalid. */
void cg_config_note(const char *what);
void cg_parse_output(const char *value);
void cg_parse_signals(const char *value, int signal_wanted[]);
void cg_parse_format(const char *value);
int cg_parse_switch(const char *name, const char *value, int dflt);
const char *cg_parse_patterns(const char *name, const char *list, char *out, size_t size);
int cg_program_covered(const char *include, const char *exclude, const char *exe);
#endif
