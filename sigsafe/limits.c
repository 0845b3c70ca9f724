//go:build ignore

/*
 * limits.c — what keeps a crash loop from filling a disk or flooding a journal.
 *
 * The storm limit.  A service that systemd restarts every 100 ms crashes 600 times a minute,
 * each time in a new process: the count has to outlive the process.  It lives in
 * <cache dir>/.storm (docs/cache.md), one slot per recent signature: the crashes of the
 * window so far and when the window began.  Past CRASHGUARD_STORM_LIMIT crashes in a window
 * a crash gets one line that counts it, no report file and no minidump; the first full
 * report of the next window says how many were summarized.  The file is shared by every
 * process of the user, so it is updated under an open-file-description lock, tried for at
 * most 50 ms and never waited on (a crashing process must not hang on another): when it
 * stays busy the crash is counted anyway, unlocked — a count off by one beats a lost report.
 * The crash's time is read once the lock is held: crashes counted in the order of their
 * times, a window's start is never later than a crash counted in it.
 *
 * Retention.  After a crash wrote its files, each directory written to is scanned
 * (getdents64) and the oldest of our files removed until CRASHGUARD_MAX_FILES and
 * CRASHGUARD_MAX_USE hold, under a lock on the directory (flock, tried as the storm state's):
 * crashes at once would otherwise each remove the others' new files.  "Ours": a name that fits a file: or minidump: pattern of
 * CRASHGUARD_OUTPUT, a regular file owned by this user, starting as a report or a minidump
 * does.  The files of the crash at hand are never removed, whatever the caps.
 *
 * Everything here is raw system calls (sys.h) on static buffers; a file we cannot open,
 * lock or read leaves the crash reported in full.
 */
#include "limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>

#include "context.h"
#include "crashguard.h"
#include "describe.h"
#include "precompute.h"
#include "report.h"
#include "sinks.h"
#include "sys.h"

/* ---- the storm limit ---- */

#define STORM_MAGIC "CGSTORM1"
#define STORM_SLOTS 64
#define LOCK_TRIES 50 /* 1 ms apart */

struct storm_slot {
    uint64_t signature;
    uint64_t window_start_usec; /* 0: a free slot */
    uint32_t count;             /* crashes in the window so far */
    uint32_t reserved;
    uint64_t reserved2;
};

struct storm_file {
    char magic[8];
    uint64_t reserved;
    struct storm_slot slots[STORM_SLOTS];
};

_Static_assert(sizeof(struct storm_file) == 16 + 32 * STORM_SLOTS, "docs/cache.md, .storm");

static struct storm_file storm;
/* For this crash's report, when it opened a new window: what the last one summarized. */
static uint32_t summarized;
static uint64_t summarized_since_usec;

/* The first cache directory that is ours (owned by us, written by no one else), opened. */
static int open_state_dir(void) {
    uid_t euid = cg_sys_geteuid();
    for (int d = 0; d < cg_precompute.writable_dirs; d++) {
        int fd = cg_sys_open(cg_precompute.dirs[d], O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd == -ENOENT) {
            int made = cg_sys_mkdir(cg_precompute.dirs[d], 0700);
            if (made == 0 || made == -EEXIST) /* made now, by us or by another process */
                fd = cg_sys_open(cg_precompute.dirs[d], O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        }
        if (fd < 0)
            continue;
        struct stat st;
        if (cg_sys_fstat(fd, &st) == 0 && st.st_uid == euid && !(st.st_mode & 022))
            return fd;
        cg_sys_close(fd);
    }
    return -1;
}

/* Tries a lock for at most LOCK_TRIES ms, never waiting on its holder: the state file's
 * record lock, or a directory's flock (a directory cannot take a record lock). */
static int lock_for_a_while(int fd, int directory) {
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    for (int i = 0; i < LOCK_TRIES; i++) {
        long r = directory ? CG_SC(SYS_flock, fd, LOCK_EX | LOCK_NB, 0, 0, 0, 0) : cg_sys_fcntl(fd, F_OFD_SETLK, (long)&lock);
        if (r == 0)
            return 1;
        cg_sys_sleep_ms(1);
    }
    return 0;
}

static uint64_t now_usec(void) {
    struct timespec t = {0, 0};
    if (cg_sys_clock_gettime(CLOCK_REALTIME, &t) != 0 || t.tv_sec < 0)
        return 0;
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* The slot of this signature; else a free or ended one; else the one whose window began
 * first (a signature not seen for longest). */
static struct storm_slot *slot_for(uint64_t signature, uint64_t now_usec, uint64_t window_usec) {
    struct storm_slot *best = &storm.slots[0];
    for (int i = 0; i < STORM_SLOTS; i++) {
        struct storm_slot *s = &storm.slots[i];
        if (s->window_start_usec && s->signature == signature)
            return s;
    }
    for (int i = 0; i < STORM_SLOTS; i++) {
        struct storm_slot *s = &storm.slots[i];
        if (!s->window_start_usec || (s->window_start_usec <= now_usec && now_usec - s->window_start_usec >= window_usec))
            return s;
        if (s->window_start_usec < best->window_start_usec)
            best = s;
    }
    return best;
}

uint32_t cg_storm_count(uint64_t signature) {
    uint32_t limit = cg_report_setup.storm_limit;
    uint64_t window_usec = (uint64_t)cg_report_setup.storm_window * 1000000u;
    summarized = 0;
    if (!limit)
        return 0;
    int dir = open_state_dir();
    if (dir < 0)
        return 0;
    int fd = cg_sys_openat(dir, ".storm", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    cg_sys_close(dir);
    if (fd < 0)
        return 0;
    struct stat st;
    if (cg_sys_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != cg_sys_geteuid()) {
        cg_sys_close(fd);
        return 0;
    }
    lock_for_a_while(fd, 0); /* or not: counted anyway */
    uint64_t now = now_usec();
    if (!now) {
        cg_sys_close(fd);
        return 0;
    }
    long got = cg_sys_pread(fd, &storm, sizeof storm, 0);
    /* A new, short or foreign file is a fresh state: its numbers are never trusted as more
     * than counts. */
    int fresh = got != (long)sizeof storm;
    for (int i = 0; !fresh && i < 8; i++)
        fresh = storm.magic[i] != STORM_MAGIC[i];
    if (fresh) {
        uint8_t *p = (uint8_t *)&storm;
        for (size_t i = 0; i < sizeof storm; i++)
            p[i] = 0;
        for (int i = 0; i < 8; i++)
            storm.magic[i] = STORM_MAGIC[i];
    }
    struct storm_slot *s = slot_for(signature, now, window_usec);
    uint32_t number = 0;
    /* In the window: since its start, or up to a window before it (a crash that could not
     * get the lock in time, a clock stepped back a little); a start further in the future is
     * a clock set back, and the window ends now. */
    uint64_t start = s->window_start_usec;
    if (s->signature == signature && start &&
        (start <= now ? now - start < window_usec : start - now < window_usec)) {
        if (s->count < UINT32_MAX)
            s->count++;
        if (s->count > limit)
            number = s->count;
    } else {
        if (s->signature == signature && s->count > limit) {
            summarized = s->count - limit;
            summarized_since_usec = s->window_start_usec;
        }
        s->signature = signature;
        s->window_start_usec = now;
        s->count = 1;
    }
    cg_sys_pwrite(fd, &storm, sizeof storm, 0);
    cg_sys_close(fd); /* and with it the lock */
    return number;
}

int storm_noted(void) { return summarized != 0; }

void out_storm_note(struct cg_out *o) {
    if (!summarized)
        return;
    char since[32];
    cg_format_utc(since, summarized_since_usec);
    out_str(o, "  storm limit: ");
    out_udec(o, summarized);
    out_str(o, summarized == 1 ? " crash" : " crashes");
    out_str(o, " with this signature in the window that began at ");
    out_str(o, since);
    out_str(o, " got one line each, not a report (CRASHGUARD_STORM_LIMIT)\n");
}

static void out_signature(struct cg_out *o, uint64_t s) { out_hex(o, s, 16); /* 0x and 16 digits */ }

void out_storm_line(struct cg_out *o, int sig, uint32_t number) {
    const struct cg_crash_context *c = cg_context();
    const char *exe = cg_executable_path();
    uint32_t limit = cg_report_setup.storm_limit, window = cg_report_setup.storm_window;
    if (cg_config.json) {
        /* docs/repeat.schema.json */
        out_str(o, "{\"crashguard_repeat\":1,\"signal\":\"");
        out_str(o, signal_name(sig));
        out_str(o, "\",\"signal_number\":");
        out_udec(o, (uint64_t)sig);
        out_str(o, ",\"signature\":\"");
        out_signature(o, last_report_signature());
        out_str(o, "\",\"pid\":");
        out_udec(o, (uint64_t)cg_sys_getpid());
        out_str(o, ",\"executable\":");
        out_json_open(o);
        out_str(o, exe);
        out_json_close(o);
        out_str(o, ",\"time\":\"");
        out_str(o, c->time);
        out_str(o, "\",\"number_in_window\":");
        out_udec(o, number);
        out_str(o, ",\"storm_limit\":");
        out_udec(o, limit);
        out_str(o, ",\"window_seconds\":");
        out_udec(o, window);
        out_str(o, "}\n");
        return;
    }
    out_str(o, "*** crashguard: ");
    out_str(o, signal_name(sig));
    out_str(o, " in ");
    out_str(o, exe);
    out_str(o, " (pid ");
    out_udec(o, (uint64_t)cg_sys_getpid());
    out_str(o, ", signature ");
    out_signature(o, last_report_signature());
    out_str(o, "): crash ");
    out_udec(o, number);
    out_str(o, " with this signature within ");
    out_udec(o, window);
    out_str(o, " s; the first ");
    out_udec(o, limit);
    out_str(o, " were reported in full, this one only here (CRASHGUARD_STORM_LIMIT)\n");
}

/* ---- retention ---- */

#define KEPT_CANDIDATES 64
#define RETENTION_PASSES 4

struct candidate {
    int64_t sec;
    int64_t nsec;
    uint64_t size;
    char name[256];
};

static struct candidate oldest[KEPT_CANDIDATES];
static int noldest;
static uint8_t dents[16384];

/* Whether name fits the last component of pattern, where %p %t %e %h stand for one or more
 * characters, %% for %, %x for x (sinks.c expands them so).  Greedy with backtracking to the
 * last placeholder, as a glob's `*`: linear enough for a 255-byte name whatever the pattern. */
static int fits(const char *pattern, const char *name) {
    const char *p = pattern, *s = name, *star_p = 0, *star_s = 0;
    while (*s) {
        if (p[0] == '%' && (p[1] == 'p' || p[1] == 't' || p[1] == 'e' || p[1] == 'h')) {
            /* one character, then any number */
            p += 2;
            s++;
            star_p = p;
            star_s = s;
            continue;
        }
        char want = p[0] == '%' && p[1] ? p[1] : p[0];
        if (want && want == *s) {
            p += p[0] == '%' && p[1] ? 2 : 1;
            s++;
            continue;
        }
        if (!star_p)
            return 0;
        p = star_p;
        s = ++star_s;
    }
    return !*p; /* a placeholder left needs a character */
}

static int starts_as_ours(int fd) {
    char head[20];
    long n = cg_sys_pread(fd, head, sizeof head, 0);
    /* "\n*** crashguard": a report file of an earlier version, which began with an empty line. */
    static const char *const magic[] = {"*** crashguard", "\n*** crashguard", "{\"crashguard_report\"", "MDMP"};
    for (int m = 0; m < 4; m++) {
        size_t len = cg_strlen(magic[m]), i = 0;
        while (i < len && (long)i < n && head[i] == magic[m][i])
            i++;
        if (i == len)
            return 1;
    }
    return 0;
}

/* By modification time; the same time (the clock's granularity is a few ms), by name. */
static int older(const struct candidate *a, const struct candidate *b) {
    if (a->sec != b->sec)
        return a->sec < b->sec;
    if (a->nsec != b->nsec)
        return a->nsec < b->nsec;
    const char *x = a->name, *y = b->name;
    while (*x && *x == *y)
        x++, y++;
    return (unsigned char)*x < (unsigned char)*y;
}

static void keep_if_old(const struct candidate *c) {
    int at = noldest;
    while (at > 0 && older(c, &oldest[at - 1]))
        at--;
    if (at >= KEPT_CANDIDATES)
        return;
    int end = noldest < KEPT_CANDIDATES ? noldest : KEPT_CANDIDATES - 1;
    for (int i = end; i > at; i--)
        oldest[i] = oldest[i - 1];
    oldest[at] = *c;
    if (noldest < KEPT_CANDIDATES)
        noldest++;
}

/* One pass over the directory: our files counted, the oldest kept. */
static void survey(int dir, const char *patterns[2], const char *spare[2], uint64_t *count, uint64_t *bytes) {
    uid_t euid = cg_sys_geteuid();
    *count = *bytes = 0;
    noldest = 0;
    CG_SC(SYS_lseek, dir, 0, SEEK_SET, 0, 0, 0);
    for (;;) {
        long n = cg_sys_getdents64(dir, dents, sizeof dents);
        if (n <= 0)
            return;
        for (long off = 0; off < n;) {
            struct dirent64_head {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(dents + off);
            off += d->reclen;
            if (d->type != DT_REG && d->type != DT_UNKNOWN)
                continue;
            if (!(patterns[0] && fits(patterns[0], d->name)) && !(patterns[1] && fits(patterns[1], d->name)))
                continue;
            int fd = cg_sys_openat(dir, d->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
            if (fd < 0)
                continue;
            struct stat st;
            int ours = cg_sys_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == euid && starts_as_ours(fd);
            cg_sys_close(fd);
            if (!ours)
                continue;
            (*count)++;
            *bytes += (uint64_t)st.st_size;
            if ((spare[0] && cg_streq(d->name, spare[0])) || (spare[1] && cg_streq(d->name, spare[1])))
                continue;
            struct candidate c = {.sec = st.st_mtim.tv_sec, .nsec = st.st_mtim.tv_nsec, .size = (uint64_t)st.st_size};
            size_t len = cg_strnlen(d->name, sizeof c.name - 1);
            for (size_t i = 0; i < len; i++)
                c.name[i] = d->name[i];
            c.name[len] = 0;
            keep_if_old(&c);
        }
    }
}

static int over(uint64_t count, uint64_t bytes) {
    return (cg_report_setup.max_files && count > cg_report_setup.max_files) ||
           (cg_report_setup.max_use && bytes > cg_report_setup.max_use);
}

static void enforce_in(const char *written, const char *patterns[2], const char *spare[2]) {
    static char dir_path[CG_PATH_MAX];
    cg_split_dir(written, CG_PATH_MAX, dir_path);
    int dir = cg_sys_open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return;
    lock_for_a_while(dir, 1); /* or not: then crashes at once may remove more than needed */
    for (int pass = 0; pass < RETENTION_PASSES; pass++) {
        uint64_t count, bytes;
        survey(dir, patterns, spare, &count, &bytes);
        if (!over(count, bytes) || !noldest)
            break;
        for (int i = 0; i < noldest && over(count, bytes); i++) {
            if ((int)CG_SC(SYS_unlinkat, dir, oldest[i].name, 0, 0, 0, 0) == 0) {
                count--;
                bytes -= oldest[i].size;
            }
        }
        if (!over(count, bytes))
            break;
    }
    cg_sys_close(dir);
}

static int same_dir(const char *a, const char *b) {
    size_t la = (size_t)(cg_base_name(a) - a), lb = (size_t)(cg_base_name(b) - b);
    if (la != lb)
        return 0;
    for (size_t i = 0; i < la; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

void cg_enforce_retention(const char *report_file, const char *minidump_file) {
    if (!cg_report_setup.max_files && !cg_report_setup.max_use)
        return;
    const char *report_pattern = cg_config.report_file_pattern[0] ? cg_base_name(cg_config.report_file_pattern) : 0;
    const char *minidump_pattern = cg_config.minidump_pattern[0] ? cg_base_name(cg_config.minidump_pattern) : 0;
    /* Where the kind this crash did not write would have gone (the same expansions: the same
     * process): a directory that holds both kinds has one budget for both. */
    static char other[CG_PATH_MAX];
    if (report_file && !minidump_file && minidump_pattern &&
        cg_expand_pattern(cg_config.minidump_pattern, other, sizeof other))
        minidump_file = other, minidump_pattern = same_dir(report_file, other) ? minidump_pattern : 0;
    else if (minidump_file && !report_file && report_pattern &&
             cg_expand_pattern(cg_config.report_file_pattern, other, sizeof other))
        report_file = other, report_pattern = same_dir(minidump_file, other) ? report_pattern : 0;
    const char *spare[2] = {report_file && report_file != other ? cg_base_name(report_file) : 0,
                            minidump_file && minidump_file != other ? cg_base_name(minidump_file) : 0};
    if (report_file && minidump_file && same_dir(report_file, minidump_file)) {
        const char *patterns[2] = {report_pattern, minidump_pattern};
        enforce_in(report_file != other ? report_file : minidump_file, patterns, spare);
        return;
    }
    if (report_file && report_file != other) {
        const char *patterns[2] = {report_pattern, 0};
        const char *own[2] = {spare[0], 0};
        enforce_in(report_file, patterns, own);
    }
    if (minidump_file && minidump_file != other) {
        const char *patterns[2] = {minidump_pattern, 0};
        const char *own[2] = {spare[1], 0};
        enforce_in(minidump_file, patterns, own);
    }
}
