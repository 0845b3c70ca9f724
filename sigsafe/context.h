/*
 * context.h — what a report says besides the stack: when and where the crash happened
 * (context.c), and the message that explains an abort (message.c).
 *
 * Two kinds of facts.  Those fixed at load, nearly free to gather there, are in
 * cg_report_setup, written by the constructor (report_setup.c) before the handlers go in:
 * the tags, the redaction and size options, where glibc keeps its abort message, where
 * libstdc++ keeps the current exception.  Everything else is read at crash time with raw
 * system calls (sys.h): a warm start pays nothing for a context most processes never report.
 * docs/report.md says which is which.
 */
#ifndef CG_CONTEXT_H
#define CG_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "crashguard.h"
#include "out.h"

#define CG_TAGS_MAX 512

struct cg_report_setup {
    char tags[CG_TAGS_MAX];    /* CRASHGUARD_TAGS, validated: "key=value,key=value" or "" */
    int redact_registers;      /* CRASHGUARD_REDACT has registers: none in any report */
    int redact_addresses;      /* CRASHGUARD_REDACT has addresses: none in any report */
    size_t stderr_limit;       /* CRASHGUARD_STDERR_LIMIT in bytes; 0: unbounded */
    uint32_t storm_limit;      /* CRASHGUARD_STORM_LIMIT: full reports per signature and window; 0: no limit */
    uint32_t storm_window;     /* ...the window, in seconds */
    uint32_t max_files;        /* CRASHGUARD_MAX_FILES: report files and minidumps kept per directory; 0: no cap */
    uint64_t max_use;          /* CRASHGUARD_MAX_USE: their bytes per directory; 0: no cap */
    int secure;                /* AT_SECURE: the caller may not see what the process sees */
    long clock_ticks;          /* AT_CLKTCK: the unit of /proc/self/stat's start time */
    /* glibc's `struct abort_msg_s *__abort_msg` (GLIBC_PRIVATE), looked up at load with
     * dlvsym: the loader is not ours to call at a crash.  0 when there is none. */
    const void *abort_msg;
    /* libstdc++'s per-thread __cxa_eh_globals, as an offset from the thread pointer: valid
     * in every thread because libstdc++ was loaded at start, so its TLS block is static.
     * cxa_state: 0 no libstdc++ at load, 1 known, 2 libstdc++ but no offset (see cxa_note). */
    int cxa_state;
    intptr_t cxa_globals_tpoff;
};
extern struct cg_report_setup cg_report_setup;

/* At load (report_setup.c): the options, each invalid value noted (cg_config_note) and
 * replaced by its default; then, once the registry is filled, the addresses. */
void cg_parse_tags(const char *value);
void cg_parse_redact(const char *value);
void cg_parse_stderr_limit(const char *value);
void cg_parse_limits(const char *storm_limit, const char *max_files, const char *max_use);
void cg_setup_report(void);

/* ---- the context, read at crash time (context.c) ---- */

struct cg_crash_context {
    char time[32];              /* UTC, ISO 8601 with milliseconds */
    uint64_t time_usec;         /* since the epoch */
    uint32_t uid, gid, euid, egid;
    char hostname[65], kernel[65];
    char boot_id[33];           /* 32 hex digits, as journald's _BOOT_ID; "" unknown */
    char start[32];             /* the process's start, as time; "" unknown */
    uint64_t start_usec;
    char cgroup[CG_PATH_MAX];   /* the unified (v2) path, else systemd's v1 one; "" unknown */
    char unit[256], user_unit[256]; /* as systemd-coredump's COREDUMP_UNIT/_USER_UNIT */
    char container_id[65];      /* 64 hex digits when the cgroup path shows one */
    const char *container_runtime; /* "docker", "containerd", "cri-o", "podman",
                                      "kubernetes" or 0 */
    int privileged;             /* AT_SECURE, or not dumpable at crash time */
};

/* Reads the context of this crash (once per report). */
void cg_gather_context(void);
const struct cg_crash_context *cg_context(void);

/* UTC time of a Unix time in microseconds, "YYYY-MM-DDTHH:MM:SS.mmmZ" (out: 32 bytes). */
void cg_format_utc(char *out, uint64_t usec);

/* Calls fn(key, key_len, value, value_len) for each tag of cg_report_setup.tags. */
void cg_each_tag(void (*fn)(void *arg, const char *k, size_t kn, const char *v, size_t vn), void *arg);

/* Unit and container from a cgroup path (exposed for the tests of the rules). */
void cg_units_from_cgroup(const char *path, char *unit, size_t unit_size, char *user_unit,
                          size_t user_unit_size);
const char *cg_container_from_cgroup(const char *path, char *id /* 65 bytes */);

/* ---- the message (message.c) ---- */

#define CG_MESSAGE_MAX 1024
#define CG_TYPE_MAX 256

struct cg_crash_message {
    /* One line, what explains the abort: glibc's record of it, else the C++ exception's
     * type and what().  len 0: none. */
    char text[CG_MESSAGE_MAX + 64];
    size_t len;
    /* glibc's message as it recorded it (assert, malloc checks, fortify, stack smashing). */
    char abort_msg[CG_MESSAGE_MAX];
    size_t abort_msg_len;
    int abort_msg_cut;
    /* libstdc++'s current exception. */
    int exception;              /* 1: one was read */
    char type[CG_TYPE_MAX];     /* demangled where simple (std::runtime_error), else mangled */
    char mangled[CG_TYPE_MAX];  /* as the type_info holds it */
    char what[CG_MESSAGE_MAX];
    size_t what_len;            /* meaningful when what_read */
    int what_read, what_cut;
    const char *what_note;      /* why what() was not read, when it was not */
};

/* Reads the message of a crash by signal sig (only SIGABRT has one). */
void cg_read_message(int sig);
const struct cg_crash_message *cg_message(void);
#endif
