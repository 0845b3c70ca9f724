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

#include "context.h"
#include "crashguard.h"
#include "describe.h"
#include "report.h"
#include "sys.h"

static char path[CG_PATH_MAX];
static int path_ok, file_errno, attempted, file_root_owned;

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
            const char *base = cg_base_name(cg_executable_path());
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

size_t cg_split_dir(const char *path, size_t len, char *dir) {
    size_t slash = 0;
    for (size_t i = 0; i < len && path[i]; i++)
        if (path[i] == '/')
            slash = i;
    for (size_t i = 0; i < slash; i++)
        dir[i] = path[i];
    dir[slash ? slash : 1] = 0;
    if (!slash)
        dir[0] = '/';
    return slash + 1;
}

/* The file is created in a directory opened first, so that the directory judged (root's,
 * written by no one else: a caller cannot read what is put there) is the one written to,
 * whatever a path component is renamed to meanwhile. */
int open_report_file(void) {
    file_root_owned = 0;
    if (!cg_config.report_file_pattern[0])
        return -1;
    attempted = 1;
    path_ok = cg_expand_pattern(cg_config.report_file_pattern, path, sizeof path);
    if (!path_ok)
        return -1;
    static char dir[CG_PATH_MAX];
    size_t name = cg_split_dir(path, sizeof path, dir);
    int dfd = cg_sys_open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    int fd = dfd < 0 ? dfd : cg_sys_openat(dfd, path + name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    file_errno = fd < 0 ? -fd : 0;
    if (fd >= 0) {
        struct stat d, f;
        file_root_owned = cg_sys_fstat(dfd, &d) == 0 && d.st_uid == 0 && !(d.st_mode & 022) &&
                          cg_sys_fstat(fd, &f) == 0 && f.st_uid == 0;
    }
    if (dfd >= 0)
        cg_sys_close(dfd);
    return fd < 0 ? -1 : fd;
}

int cg_create_exclusive(const char *name) {
    return cg_sys_open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

int report_file_root_owned(void) { return file_root_owned; }

const char *report_file_created(void) { return attempted && path_ok && !file_errno ? path : 0; }

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

static char fields[8192];
static size_t nfields;
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

static void field(const char *key, const char *value, size_t value_len) {
    size_t max = sizeof fields;
    /* A field is written whole or not at all: journald would take a cut one as is. */
    if (nfields + cg_strlen(key) + value_len + 2 > max)
        return;
    nfields = put(fields, nfields, max, key, cg_strlen(key));
    nfields = put(fields, nfields, max, "=", 1);
    for (size_t i = 0; i < value_len && nfields < max; i++)
        fields[nfields++] = value[i] == '\n' ? ' ' : value[i]; /* single-line fields */
    nfields = put(fields, nfields, max, "\n", 1);
}

static void field_str(const char *key, const char *value) {
    if (value && *value)
        field(key, value, cg_strlen(value));
}

static void field_udec(const char *key, uint64_t v) {
    char tmp[24];
    size_t i = cg_format_udec(tmp, v);
    field(key, tmp + i, sizeof tmp - i);
}

/* CRASHGUARD_TAG_<KEY>=value for each tag: journalctl CRASHGUARD_TAG_ENV=prod finds them. */
static void tag_field(void *arg, const char *k, size_t kn, const char *v, size_t vn) {
    (void)arg;
    char key[64] = "CRASHGUARD_TAG_";
    size_t n = cg_strlen(key);
    for (size_t i = 0; i < kn && n < sizeof key - 1; i++)
        key[n++] = k[i] >= 'a' && k[i] <= 'z' ? (char)(k[i] - 'a' + 'A') : k[i];
    key[n] = 0;
    field(key, v, vn);
}

/* The socket's directory, opened while its owner is checked, when the check succeeded: the
 * datagram then goes to the socket in that very directory (/proc/self/fd/N/name). */
static int journal_dir = -1;
static char journal_name[108];

int journal_root_owned(void) {
    if (journal_dir >= 0)
        cg_sys_close(journal_dir);
    journal_dir = -1;
    const char *sock = cg_config.journal_socket;
    size_t len = cg_strnlen(sock, sizeof cg_config.journal_socket);
    static char dir[sizeof cg_config.journal_socket];
    size_t name = cg_split_dir(sock, len, dir);
    int dfd = cg_sys_open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    struct stat d, s;
    int ok = dfd >= 0 && cg_sys_fstat(dfd, &d) == 0 && d.st_uid == 0 && !(d.st_mode & 022) &&
             (int)CG_SC(SYS_newfstatat, dfd, sock + name, &s, AT_SYMLINK_NOFOLLOW, 0, 0) == 0 &&
             S_ISSOCK(s.st_mode) && s.st_uid == 0;
    if (!ok) {
        if (dfd >= 0)
            cg_sys_close(dfd);
        return 0;
    }
    journal_dir = dfd;
    size_t n = 0;
    for (size_t i = name; i < len && n < sizeof journal_name - 1; i++)
        journal_name[n++] = sock[i];
    journal_name[n] = 0;
    return 1;
}

static size_t socket_path(char *out, size_t size) {
    size_t n = 0;
    if (journal_dir >= 0) {
        n = put(out, n, size, "/proc/self/fd/", 14);
        char tmp[24];
        size_t i = cg_format_udec(tmp, (uint64_t)journal_dir);
        n = put(out, n, size, tmp + i, sizeof tmp - i);
        n = put(out, n, size, "/", 1);
        n = put(out, n, size, journal_name, cg_strlen(journal_name));
        if (n < size - 1) {
            out[n] = 0;
            struct stat st;
            if (cg_sys_stat_nofollow(out, &st) == 0) /* no /proc: the name as configured */
                return n;
        }
    }
    n = cg_strnlen(cg_config.journal_socket, size - 1);
    for (size_t i = 0; i < n; i++)
        out[i] = cg_config.journal_socket[i];
    out[n] = 0;
    return n;
}

int send_to_journal(int sig, const char *report, size_t len, const char *redacted, uint32_t repeat) {
    if (!cg_config.journal_socket[0])
        return 0;
    const struct cg_crash_context *c = cg_context();
    const struct cg_crash_message *msg = cg_message();
    const char *exe = cg_executable_path();
    static char message[1536];
    size_t m = 0;
    m = put(message, m, sizeof message, signal_name(sig), cg_strlen(signal_name(sig)));
    m = put(message, m, sizeof message, " in ", 4);
    m = put(message, m, sizeof message, exe, cg_strlen(exe));
    const char *d = last_report_diagnosis();
    if (repeat) {
        static const char words[] = ": a crash over CRASHGUARD_STORM_LIMIT, counted here, not reported in full";
        m = put(message, m, sizeof message, words, sizeof words - 1);
    } else if (msg->len) {
        m = put(message, m, sizeof message, ": ", 2);
        m = put(message, m, sizeof message, msg->text, msg->len);
    } else if (d) {
        m = put(message, m, sizeof message, ": ", 2);
        m = put(message, m, sizeof message, d, cg_strlen(d));
    }
    /* One spelling of the signature everywhere: 0x and 16 hex digits. */
    char sig_hex[19] = "0x";
    uint64_t s = last_report_signature();
    for (int i = 0; i < 16; i++)
        sig_hex[2 + i] = "0123456789abcdef"[(s >> (60 - 4 * i)) & 15];
    sig_hex[18] = 0;
    nfields = 0;
    field("MESSAGE", message, m);
    field("PRIORITY", "2", 1);
    field("SYSLOG_IDENTIFIER", "crashguard", 10);
    field_str("CRASHGUARD_SIGNAL", signal_name(sig));
    field_str("CRASHGUARD_EXECUTABLE", exe);
    field("CRASHGUARD_SIGNATURE", sig_hex, 18);
    if (msg->len)
        field("CRASHGUARD_MESSAGE", msg->text, msg->len);
    if (msg->exception)
        field_str("CRASHGUARD_EXCEPTION_TYPE", msg->type);
    field_udec("CRASHGUARD_PID", (uint64_t)cg_sys_getpid());
    field_udec("CRASHGUARD_UID", c->uid);
    field_udec("CRASHGUARD_GID", c->gid);
    field_udec("CRASHGUARD_TIMESTAMP", c->time_usec);
    if (c->start_usec)
        field_udec("CRASHGUARD_PROCESS_START_TIMESTAMP", c->start_usec);
    field_str("CRASHGUARD_HOSTNAME", c->hostname);
    field_str("CRASHGUARD_KERNEL", c->kernel);
    field_str("CRASHGUARD_BOOT_ID", c->boot_id);
    field_str("CRASHGUARD_CGROUP", c->cgroup);
    field_str("CRASHGUARD_UNIT", c->unit);
    field_str("CRASHGUARD_USER_UNIT", c->user_unit);
    field_str("CRASHGUARD_CONTAINER_ID", c->container_id);
    field_str("CRASHGUARD_CONTAINER_RUNTIME", c->container_runtime);
    field_str("CRASHGUARD_TAGS", cg_report_setup.tags);
    cg_each_tag(tag_field, 0);
    field_str("CRASHGUARD_REDACTED", redacted);
    if (repeat) {
        field_udec("CRASHGUARD_REPEAT", repeat);
        field_udec("CRASHGUARD_STORM_LIMIT", cg_report_setup.storm_limit);
        field_udec("CRASHGUARD_STORM_WINDOW", cg_report_setup.storm_window);
    }
    /* The report has newlines: the binary form, KEY\n, 64-bit little-endian length, data. */
    static const char report_key[] = "CRASHGUARD_REPORT\n";
    uint64_t le = (uint64_t)len;
    struct iovec iov[5] = {
        {fields, nfields}, {(void *)report_key, sizeof report_key - 1}, {&le, 8},
        {(void *)report, len}, {(void *)"\n", 1},
    };
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    socket_path(addr.sun_path, sizeof addr.sun_path);
    struct msghdr msg_hdr = {.msg_name = &addr, .msg_namelen = sizeof addr, .msg_iov = iov, .msg_iovlen = report ? 5 : 1};
    int fd = cg_sys_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        journal_errno = -fd;
    long sent = fd < 0 ? -1 : cg_sys_sendmsg(fd, &msg_hdr, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (fd >= 0)
        journal_errno = sent > 0 ? 0 : (int)-sent;
    if (fd >= 0)
        cg_sys_close(fd);
    if (journal_dir >= 0)
        cg_sys_close(journal_dir);
    journal_dir = -1;
    return sent > 0;
}
