/* Load-time helpers shared by the constructors and the pthread_create interposer. */
#ifndef CG_INTERPOSE_H
#define CG_INTERPOSE_H
#include <stddef.h>
/* Bytes of each thread's alternate signal stack (pthread_interpose.c says why so many). */
size_t cg_alt_stack_size(void);
/* Gives the calling thread an alternate signal stack from the pool unless it has one;
 * returns the stack, or 0.  For the main thread: never released. */
void *cg_install_alt_stack(void);
/* Brings the module registry in line with the loader's list (new modules appended,
 * unloaded ones marked dead).  One caller at a time. */
void cg_refresh_modules(void);
/* Blocks until a dlopen/dlclose hint and the loader's list changed (the Go watcher). */
void cg_wait_for_module_change(void);
/* The watcher finished the work of the hints it waited for. */
void cg_module_change_handled(void);
/* Maps cached tables for every registered module that has a valid cache file; returns 1
 * when all modules are covered (the Go runtime then has nothing to do). */
int cg_load_cached_tables(int *found, int *total);
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

/* The cache directories, the writable per-user one first (if any), the system one last. */
#include "sigsafe/crashguard.h"
#define CG_CACHE_DIR_MAX (CG_PATH_MAX - 96)
int cg_cache_dirs(char dirs[2][CG_CACHE_DIR_MAX]);
/* Loads the Go part (go_part.c); returns 0, or why it could not. */
const char *cg_load_go_part(void);
/* The caller is the Go runtime: one of its threads, or its start-up inside cg_load_go_part. */
int cg_called_by_go(void);
/* The loader's name for the Go part's image: it is not a module of the host. */
int cg_is_go_part(const char *loader_name);
/* The C library's dlopen, past our interposer. */
void *cg_real_dlopen(const char *file, int mode);
/* The next pthread_create (glibc's): threads of our own get no alternate stack. */
#include <pthread.h>
int cg_real_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                           void *arg);
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
/* Configuration values (config.c): each sets cg_config, notes what was invalid. */
void cg_config_note(const char *what);
void cg_parse_output(const char *value);
void cg_parse_signals(const char *value, int signal_wanted[]);
void cg_parse_format(const char *value);
int cg_program_covered(const char *include, const char *exclude, const char *exe);
#endif
