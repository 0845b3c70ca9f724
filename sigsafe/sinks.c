//go:build ignore

/*
 * sinks.c — the report file: `file:PATTERN` in CRASHGUARD_OUTPUT, with %p (pid), %t (Unix
 * time), %e (executable name), %h (host name) and %%.  Created at crash time with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, in a directory that must exist: an existing file or
 * a symbolic link planted at the name is never written through.  Signal-safe: the name is
 * built in a static buffer from raw system calls (sys.h).
 */
#include "sinks.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <time.h>

#include "crashguard.h"
#include "describe.h"
#include "report.h"
#include "sys.h"

static char path[CG_PATH_MAX];
static int path_ok, file_errno, attempted;

static size_t put(char *out, size_t n, size_t max, const char *s, size_t len) {
    for (size_t i = 0; i < len && n < max; i++)
        out[n++] = s[i];
    return n;
}

static size_t put_dec(char *out, size_t n, size_t max, uint64_t v) {
    char tmp[24];
    size_t i = cg_format_udec(tmp, v);
    return put(out, n, max, tmp + i, sizeof tmp - i);
}

/* Returns 0 when the expansion does not fit. */
int cg_expand_pattern(const char *pattern, char *path, size_t size) {
    size_t n = 0, max = size - 1;
    for (const char *p = pattern; *p && n < max; p++) {
        if (*p != '%' || !p[1]) {
            path[n++] = *p;
            continue;
        }
        switch (*++p) {
        case 'p':
            n = put_dec(path, n, max, (uint64_t)cg_sys_getpid());
            break;
        case 't': {
            struct timespec ts = {0, 0};
            cg_sys_clock_gettime(CLOCK_REALTIME, &ts);
            n = put_dec(path, n, max, (uint64_t)ts.tv_sec);
            break;
        }
        case 'e': {
            const char *exe = cg_executable_path();
            const char *base = exe;
            for (const char *q = exe; *q; q++)
                if (*q == '/')
                    base = q + 1;
            n = put(path, n, max, base, cg_strlen(base));
            break;
        }
        case 'h': {
            static struct utsname u;
            if (cg_sys_uname(&u) == 0)
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
    path_ok = cg_expand_pattern(cg_config.report_file_pattern, path, sizeof path);
    if (!path_ok)
        return -1;
    int fd = cg_create_exclusive(path);
    file_errno = fd < 0 ? -fd : 0;
    return fd < 0 ? -1 : fd;
}

int cg_create_exclusive(const char *name) {
    return cg_sys_open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static const char *why(int e) {
    switch (e) {
    case ENOENT: return "the directory does not exist";
    case EACCES: return "permission denied";
    case EPERM: return "not permitted (a seccomp filter or a security module)";
    case EEXIST: return "a file or link of that name exists (never overwritten)";
    case EROFS: return "read-only file system";
    case ENOSPC: return "no space left";
    case EDQUOT: return "disk quota exceeded";
    case EMFILE:
    case ENFILE: return "no descriptor left";
    case ENOTDIR: return "a part of the path is not a directory";
    case ENAMETOOLONG: return "the name is too long (over NAME_MAX, 255 bytes, or PATH_MAX)";
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

/* ---- the journal: systemd's native protocol over its datagram socket ---- */

static char fields[2048];
static int journal_errno; /* why the last send failed, 0 if it did not */

void out_journal_failure(struct cg_out *o) {
    out_str(o, "crashguard: the journal did not take the report (");
    out_str(o, cg_config.journal_socket);
    out_str(o, ": ");
    switch (journal_errno) {
    case ENOENT: out_str(o, "no such socket: journald is not running here"); break;
    case ECONNREFUSED: out_str(o, "nothing listens on it: journald is not running"); break;
    case EACCES:
    case EPERM: out_str(o, "permission denied"); break;
    case EAGAIN: out_str(o, "the journal is not keeping up (its queue is full)"); break;
    case EMSGSIZE:
    case ENOBUFS: out_str(o, "the report is too large for one datagram"); break;
    case ENOTSOCK:
    case ENOTDIR: out_str(o, "not a socket"); break;
    default: out_str(o, "error "); out_dec(o, journal_errno);
    }
    out_str(o, ")\n");
}

static size_t field(size_t n, const char *key, const char *value, size_t value_len) {
    size_t max = sizeof fields;
    n = put(fields, n, max, key, cg_strlen(key));
    n = put(fields, n, max, "=", 1);
    for (size_t i = 0; i < value_len && n < max; i++)
        fields[n++] = value[i] == '\n' ? ' ' : value[i]; /* single-line fields */
    return put(fields, n, max, "\n", 1);
}

int send_to_journal(int sig, const char *report, size_t len) {
    if (!cg_config.journal_socket[0])
        return 0;
    const char *exe = cg_executable_path();
    char message[512];
    size_t m = 0;
    m = put(message, m, sizeof message, signal_name(sig), cg_strlen(signal_name(sig)));
    m = put(message, m, sizeof message, " in ", 4);
    m = put(message, m, sizeof message, exe, cg_strlen(exe));
    const char *d = last_report_diagnosis();
    if (d) {
        m = put(message, m, sizeof message, ": ", 2);
        m = put(message, m, sizeof message, d, cg_strlen(d));
    }
    char sig_hex[19] = "0x";
    uint64_t s = last_report_signature();
    for (int i = 0; i < 16; i++)
        sig_hex[2 + i] = "0123456789abcdef"[(s >> (60 - 4 * i)) & 15];
    sig_hex[18] = 0;
    size_t n = 0;
    n = field(n, "MESSAGE", message, m);
    n = field(n, "PRIORITY", "2", 1);
    n = field(n, "SYSLOG_IDENTIFIER", "crashguard", 10);
    n = field(n, "CRASHGUARD_SIGNAL", signal_name(sig), cg_strlen(signal_name(sig)));
    n = field(n, "CRASHGUARD_EXECUTABLE", exe, cg_strlen(exe));
    n = field(n, "CRASHGUARD_SIGNATURE", sig_hex, 18);
    /* The report has newlines: the binary form, KEY\n, 64-bit little-endian length, data. */
    static const char report_key[] = "CRASHGUARD_REPORT\n";
    uint64_t le = (uint64_t)len;
    struct iovec iov[5] = {
        {fields, n}, {(void *)report_key, sizeof report_key - 1}, {&le, 8},
        {(void *)report, len}, {(void *)"\n", 1},
    };
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t plen = cg_strnlen(cg_config.journal_socket, sizeof addr.sun_path - 1);
    for (size_t i = 0; i < plen; i++)
        addr.sun_path[i] = cg_config.journal_socket[i];
    struct msghdr msg = {.msg_name = &addr, .msg_namelen = sizeof addr, .msg_iov = iov, .msg_iovlen = 5};
    int fd = cg_sys_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        journal_errno = -fd;
        return 0;
    }
    long sent = cg_sys_sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    journal_errno = sent > 0 ? 0 : (int)-sent;
    cg_sys_close(fd);
    return sent > 0;
}
