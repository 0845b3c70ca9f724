/*
 * precompute.h — where a module's tables come from: cache files by build-id (cachefile.c),
 * written by a helper process that the host starts (spawn.c) — never by the host itself,
 * which runs no Go and no thread of ours.  The constructor maps what is cached and starts a
 * helper for what is missing; at a crash the handler maps what appeared since, starting a
 * helper if none is at work, and waits for it, bounded (late_tables.c).
 */
#ifndef CG_PRECOMPUTE_H
#define CG_PRECOMPUTE_H

#include <sys/types.h>

#include "crashguard.h"

#define CG_CACHE_DIRS 3
#define CG_CACHE_DIR_MAX (CG_PATH_MAX - 96)
#define CG_HELPER_ENV_MAX 12
/* A helper's memfd archive, where no cache directory can be used: its size (sparse), and how
 * many a process makes at most. */
#define CG_ARCHIVE_SIZE (64u << 20)
#define CG_ARCHIVES 4

/* Resolved at load (the environment is not ours to read at a crash). */
struct cg_precompute {
    /* Read in this order: the user's directory, the per-user fallback under /var/tmp, the
     * system directory.  A helper writes to the first of the first two it can use. */
    char dirs[CG_CACHE_DIRS][CG_CACHE_DIR_MAX];
    int ndirs;
    int writable_dirs;        /* how many of dirs[] a helper may write (0: none) */
    const char *off_reason;   /* non-0: no helper is ever started here, and why */
    char library[CG_PATH_MAX]; /* libcrashguard.so, absolute: what the helper runs */
    char loader[CG_PATH_MAX];  /* the dynamic loader that runs it */
    const char *env[CG_HELPER_ENV_MAX]; /* "NAME=value" strings the helper inherits */
    int reaper;               /* orphans come back to us (PID 1, a subreaper): no helper while
                               * we live (spawn.c) */
    _Atomic pid_t helper;     /* the last helper started by this process, 0 if none */
    int spawn_error;          /* errno of the last failed start, 0 if none */
    int helper_finished;      /* the last helper ended (it was seen gone) */
    const uint8_t *archives[CG_ARCHIVES]; /* memfd archives handed to helpers (spawn.c) */
    _Atomic int narchives;
};
extern struct cg_precompute cg_precompute;

/* ---- cache files (cachefile.c) ---- */

/* Working memory of one mapping pass: the caller provides it (static at a crash). */
struct cg_cache_scratch {
    uint8_t window[4096];
    uint8_t head[CG_CACHE_HEADER_SIZE + 16 * 24];
    char notes[CG_TABLE_KINDS][CG_NOTE_MAX];
    char path[CG_PATH_MAX];
};

/* <dir>/<first two hex digits of m's build-id>/<rest><suffix>; 0 if it does not fit. */
int cg_cache_path(char *out, size_t size, const char *dir, const struct cg_module *m, const char *suffix);

/* Maps and checks one cache file; publishes its tables into m on success (returns 1). */
int cg_map_cache_file(struct cg_module *m, const char *path, struct cg_cache_scratch *s, int verify_now);

/* Maps the cached tables of every live module still without them.  At load the file is
 * only read where it is checked (its pages stay out of the process); at a crash (verify_now)
 * its checksum is checked at once.  Returns how many cacheable modules (with a build-id)
 * still have no tables. */
int cg_map_cached_tables(struct cg_cache_scratch *s, int verify_now);

/* The build-lock files of the writable cache directories (<dir>/.locks), opened once for a
 * pass over the modules: -1 for a directory that has none yet. */
struct cg_build_locks {
    int fd[CG_CACHE_DIRS];
    char path[CG_PATH_MAX];
};
void cg_open_build_locks(struct cg_build_locks *l);
void cg_close_build_locks(struct cg_build_locks *l);
/* Whether a helper (ours or another process's) holds the build lock of m's tables. */
int cg_tables_being_built(const struct cg_build_locks *l, const struct cg_module *m);

/* ---- the helper (spawn.c) ---- */

/* Starts a helper for the cacheable modules that have no tables, that no helper is building
 * and that no helper of this process was asked for before; urgent: at a crash (normal priority, no waiting for idle CPU).  Returns its pid,
 * 0 when there was nothing to do or no helper may run, -1 when it could not be started. */
pid_t cg_spawn_helper(int urgent);

/* Whether the last helper this process started still exists. */
int cg_helper_running(void);

/* ---- at a crash (late_tables.c) ---- */

/* Brings the registry and the tables up to date before a report: modules loaded since the
 * last look, tables cached since load, a helper started if needed; waits at most
 * wait_ms for tables still being built. */
void cg_tables_at_crash(int wait_ms);

/* Why m has no tables of this kind, in words for the report's notes. */
const char *cg_why_no_tables(const struct cg_module *m);
#endif
