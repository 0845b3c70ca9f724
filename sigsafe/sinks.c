/*
 * sinks.c — the report file: `file:PATTERN` in CRASHGUARD_OUTPUT, with %p (pid), %t (Unix
 * time), %e (executable name), %h (host name) and %%.  Created at crash time with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, in a directory that must exist: an existing file or
 * a symbolic link planted at the name is never written through.  Signal-safe: the name is
 * built in a static buffer from raw system calls.
 */
#include "sinks.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "crashguard.h"

static char path[CG_PATH_MAX];
static int path_ok, file_errno, attempted;

static size_t put(char *out, size_t n, size_t max, const char *s, size_t len) {
    for (size_t i = 0; i < len && n < max; i++)
        out[n++] = s[i];
    return n;
}

static size_t put_dec(char *out, size_t n, size_t max, uint64_t v) {
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put(out, n, max, tmp + i, sizeof tmp - (size_t)i);
}

/* Returns 0 when the expansion does not fit. */
static int expand(const char *pattern) {
    size_t n = 0, max = sizeof path - 1;
    for (const char *p = pattern; *p && n < max; p++) {
        if (*p != '%' || !p[1]) {
            path[n++] = *p;
            continue;
        }
        switch (*++p) {
        case 'p':
            n = put_dec(path, n, max, (uint64_t)getpid());
            break;
        case 't': {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            n = put_dec(path, n, max, (uint64_t)ts.tv_sec);
            break;
        }
        case 'e': {
            const char *exe = atomic_load(&cg_module_count) ? cg_modules[0].path : "unknown";
            const char *base = exe;
            for (const char *q = exe; *q; q++)
                if (*q == '/')
                    base = q + 1;
            n = put(path, n, max, base, cg_strlen(base));
            break;
        }
        case 'h': {
            static struct utsname u;
            if (uname(&u) == 0)
                n = put(path, n, max, u.nodename, cg_strnlen(u.nodename, sizeof u.nodename));
            break;
        }
        default:
            path[n++] = *p; /* %% and unknown letters: the character itself */
        }
    }
    path[n] = 0;
    return n < max;
}

int open_report_file(void) {
    if (!cg_config.report_file_pattern[0])
        return -1;
    attempted = 1;
    path_ok = expand(cg_config.report_file_pattern);
    if (!path_ok)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    file_errno = fd < 0 ? errno : 0;
    return fd;
}

static const char *why(int e) {
    switch (e) {
    case ENOENT: return "the directory does not exist";
    case EACCES: return "permission denied";
    case EEXIST: return "a file or link of that name exists (never overwritten)";
    case EROFS: return "read-only file system";
    case ENOSPC: return "no space left";
    case EDQUOT: return "disk quota exceeded";
    case EMFILE:
    case ENFILE: return "no descriptor left";
    case ENOTDIR: return "a part of the path is not a directory";
    default: return "the file could not be created";
    }
}

void out_report_file_note(struct cg_out *o) {
    if (!attempted)
        return;
    out_str(o, "report file: ");
    if (!path_ok) {
        out_str(o, "the expanded name is too long\n");
        return;
    }
    out_str(o, path);
    if (file_errno) {
        out_str(o, " not created: ");
        out_str(o, why(file_errno));
    }
    out_char(o, '\n');
}
