//go:build ignore

/*
 * context.c — the context of a crash, read at crash time with raw system calls (sys.h):
 * time, credentials, host name and kernel (uname), boot id, the process's start, its cgroup
 * and what that path says (the systemd unit, a container).  journald cannot attach
 * _SYSTEMD_UNIT or _EXE to an entry of a process that is already gone, so the report says
 * them itself, as systemd-coredump does (COREDUMP_UNIT).
 *
 * Runs on the one reporting thread: every working area is static.
 */
#include "context.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <time.h>

#include "sys.h"

struct cg_report_setup cg_report_setup;

static struct cg_crash_context ctx;
static char file_buf[4096];
static struct utsname uts;

const struct cg_crash_context *cg_context(void) { return &ctx; }

/* The first size-1 bytes of a small file, terminated; its length, or -1. */
static long read_small_file(const char *path, char *buf, size_t size) {
    int fd = cg_sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < size - 1) {
        long got = cg_sys_read(fd, buf + len, size - 1 - len);
        if (got == -EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    cg_sys_close(fd);
    buf[len] = 0;
    return (long)len;
}

static void copy(char *out, size_t size, const char *s, size_t n) {
    size_t i = 0;
    for (; i < n && i < size - 1 && s[i]; i++)
        out[i] = s[i];
    out[i] = 0;
}

static int starts_with(const char *s, size_t n, const char *prefix) {
    size_t i = 0;
    for (; prefix[i]; i++)
        if (i >= n || s[i] != prefix[i])
            return 0;
    return 1;
}

static int ends_with(const char *s, size_t n, const char *suffix) {
    size_t m = cg_strlen(suffix);
    if (m > n)
        return 0;
    for (size_t i = 0; i < m; i++)
        if (s[n - m + i] != suffix[i])
            return 0;
    return 1;
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm, proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *p, uint64_t v, int width) {
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

void cg_format_utc(char *out, uint64_t usec) {
    uint64_t secs = usec / 1000000;
    int64_t y;
    unsigned m, d;
    civil_from_days((int64_t)(secs / 86400), &y, &m, &d);
    uint64_t rem = secs % 86400;
    char *p = out;
    p = put_digits(p, (uint64_t)y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, rem / 3600, 2);
    *p++ = ':';
    p = put_digits(p, rem / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, rem % 60, 2);
    *p++ = '.';
    p = put_digits(p, usec / 1000 % 1000, 3);
    *p++ = 'Z';
    *p = 0;
}

static uint64_t usec_of(const struct timespec *t) {
    return (uint64_t)t->tv_sec * 1000000u + (uint64_t)t->tv_nsec / 1000u;
}

/* Field 22 of /proc/self/stat, the start in clock ticks after boot; the name in field 2
 * may hold spaces and parentheses, so fields are counted from its last ')'. */
static int start_ticks(uint64_t *ticks) {
    long len = read_small_file("/proc/self/stat", file_buf, sizeof file_buf);
    if (len <= 0)
        return 0;
    const char *p = 0;
    for (long i = 0; i < len; i++)
        if (file_buf[i] == ')')
            p = file_buf + i + 1;
    if (!p)
        return 0;
    for (int field = 2; field < 22; p++) {
        if (!*p)
            return 0;
        if (*p == ' ')
            field++;
    }
    uint64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        v = v * 10 + (uint64_t)(*p - '0');
    *ticks = v;
    return digits > 0;
}

static void read_boot_id(void) {
    ctx.boot_id[0] = 0;
    long len = read_small_file("/proc/sys/kernel/random/boot_id", file_buf, sizeof file_buf);
    size_t n = 0;
    for (long i = 0; i < len && n < 32; i++) {
        char c = file_buf[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
            ctx.boot_id[n++] = c;
        else if (c != '-')
            break;
    }
    ctx.boot_id[n == 32 ? n : 0] = 0;
}

/* The cgroup path systemd goes by: the name=systemd hierarchy's (cgroup v1, hybrid), else
 * the unified one's ("0::"), else the first listed. */
static void read_cgroup(void) {
    ctx.cgroup[0] = 0;
    long len = read_small_file("/proc/self/cgroup", file_buf, sizeof file_buf);
    if (len <= 0)
        return;
    const char *best = 0, *unified = 0, *first = 0;
    size_t best_len = 0, unified_len = 0, first_len = 0;
    for (const char *line = file_buf; *line;) {
        const char *end = line;
        while (*end && *end != '\n')
            end++;
        const char *c1 = line;
        while (c1 < end && *c1 != ':')
            c1++;
        const char *c2 = c1 < end ? c1 + 1 : end;
        while (c2 < end && *c2 != ':')
            c2++;
        if (c2 < end) {
            const char *path = c2 + 1;
            size_t n = (size_t)(end - path);
            size_t controllers = (size_t)(c2 - c1 - 1);
            if (!first)
                first = path, first_len = n;
            if (starts_with(c1 + 1, controllers, "name=systemd") && controllers == 12)
                best = path, best_len = n;
            if (controllers == 0 && c1 - line == 1 && line[0] == '0')
                unified = path, unified_len = n;
        }
        line = *end ? end + 1 : end;
    }
    if (!best)
        best = unified, best_len = unified_len;
    if (!best)
        best = first, best_len = first_len;
    if (best)
        copy(ctx.cgroup, sizeof ctx.cgroup, best, best_len);
}

/* ---- the unit, as systemd derives it (cg_path_get_unit, cg_path_get_user_unit) ---- */

static int unit_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
           c == '-' || c == '_' || c == '.' || c == '\\' || c == '@';
}

/* unit_name_is_valid(): allowed characters, a known type suffix, a name before it. */
static int unit_name_valid(const char *s, size_t n) {
    static const char *const types[] = {".service", ".socket", ".target", ".device", ".mount",
                                        ".automount", ".swap", ".timer", ".path", ".slice", ".scope"};
    if (n == 0 || n > 255 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!unit_char(s[i]))
            return 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t m = cg_strlen(types[i]);
        if (n > m && ends_with(s, n, types[i]) && s[n - m - 1] != '@')
            return 1;
    }
    return 0;
}

static size_t component_len(const char *p) {
    size_t n = 0;
    while (p[n] && p[n] != '/')
        n++;
    return n;
}

static const char *skip_slashes(const char *p) {
    while (*p == '/')
        p++;
    return p;
}

static const char *skip_slices(const char *p) {
    for (;;) {
        p = skip_slashes(p);
        size_t n = component_len(p);
        if (!(n > 6 && ends_with(p, n, ".slice") && unit_name_valid(p, n)))
            return p;
        p += n;
    }
}

/* The first component at p when it names a unit that is not a slice; its length, or 0. */
static size_t unit_at(const char *p) {
    size_t n = component_len(p);
    if (n && p[0] == '_') /* cg_unescape: a leading '_' escapes names that collide */
        return 0;
    return unit_name_valid(p, n) && !ends_with(p, n, ".slice") ? n : 0;
}

void cg_units_from_cgroup(const char *path, char *unit, size_t unit_size, char *user_unit,
                          size_t user_unit_size) {
    unit[0] = user_unit[0] = 0;
    const char *e = skip_slices(path);
    size_t n = unit_at(e);
    if (!n)
        return;
    copy(unit, unit_size, e, n);
    /* user@UID.service: the user's own service manager; its units are the user units. */
    if (n > 13 && starts_with(e, n, "user@") && ends_with(e, n, ".service")) {
        const char *u = skip_slices(e + n);
        size_t un = unit_at(u);
        if (un)
            copy(user_unit, user_unit_size, u, un);
    }
}

/* ---- a container id in the cgroup path ---- */

static int hex64_at(const char *p, size_t n) {
    if (n != 64 && !(n == 70 && ends_with(p, n, ".scope")))
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

/* The patterns of the runtimes' cgroup drivers:
 *   docker:            /system.slice/docker-ID.scope, /docker/ID
 *   containerd (CRI):  /kubepods.slice/.../cri-containerd-ID.scope, /kubepods/.../pod.../ID
 *   cri-o:             /kubepods.slice/.../crio-ID.scope
 *   podman:            /machine.slice/libpod-ID.scope[/container], /libpod_parent/libpod-ID
 * (crio-conmon-ID and libpod-conmon-ID hold the monitor, not the container.)  The last
 * component that matches names the container.  A process in a cgroup namespace sees "/"
 * and no id. */
const char *cg_container_from_cgroup(const char *path, char *id) {
    static const struct {
        const char *prefix, *runtime;
    } prefixed[] = {{"docker-", "docker"}, {"cri-containerd-", "containerd"}, {"crio-", "cri-o"},
                    {"libpod-", "podman"}};
    const char *runtime = 0, *parent_runtime = 0;
    id[0] = 0;
    for (const char *p = skip_slashes(path); *p; p = skip_slashes(p)) {
        size_t n = component_len(p);
        if (n == 6 && starts_with(p, n, "docker"))
            parent_runtime = "docker";
        else if (starts_with(p, n, "kubepods") && !parent_runtime)
            parent_runtime = "kubernetes";
        else if (n == 13 && starts_with(p, n, "libpod_parent"))
            parent_runtime = "podman";
        for (size_t i = 0; i < sizeof prefixed / sizeof prefixed[0]; i++) {
            size_t m = cg_strlen(prefixed[i].prefix);
            if (starts_with(p, n, prefixed[i].prefix) && hex64_at(p + m, n - m)) {
                copy(id, 65, p + m, 64);
                runtime = prefixed[i].runtime;
            }
        }
        if (n == 64 && hex64_at(p, n)) {
            copy(id, 65, p, 64);
            runtime = parent_runtime;
        }
        p += n;
    }
    return id[0] ? runtime : 0;
}

/* ---- tags ---- */

void cg_each_tag(void (*fn)(void *arg, const char *k, size_t kn, const char *v, size_t vn), void *arg) {
    const char *p = cg_report_setup.tags;
    while (*p) {
        const char *k = p;
        while (*p && *p != '=')
            p++;
        size_t kn = (size_t)(p - k);
        if (*p == '=')
            p++;
        const char *v = p;
        while (*p && *p != ',')
            p++;
        fn(arg, k, kn, v, (size_t)(p - v));
        if (*p == ',')
            p++;
    }
}

void cg_gather_context(void) {
    struct timespec real = {0, 0}, boot = {0, 0};
    cg_sys_clock_gettime(CLOCK_REALTIME, &real);
    cg_sys_clock_gettime(CLOCK_BOOTTIME, &boot);
    ctx.time_usec = usec_of(&real);
    cg_format_utc(ctx.time, ctx.time_usec);
    ctx.uid = (uint32_t)cg_sys_getuid();
    ctx.gid = (uint32_t)CG_SC(SYS_getgid, 0, 0, 0, 0, 0, 0);
    ctx.euid = (uint32_t)cg_sys_geteuid();
    ctx.egid = (uint32_t)CG_SC(SYS_getegid, 0, 0, 0, 0, 0, 0);
    ctx.hostname[0] = ctx.kernel[0] = 0;
    if (cg_sys_uname(&uts) == 0) {
        copy(ctx.hostname, sizeof ctx.hostname, uts.nodename, sizeof uts.nodename);
        copy(ctx.kernel, sizeof ctx.kernel, uts.release, sizeof uts.release);
    }
    read_boot_id();
    uint64_t ticks;
    ctx.start[0] = 0;
    ctx.start_usec = 0;
    long hz = cg_report_setup.clock_ticks > 0 ? cg_report_setup.clock_ticks : 100;
    if (start_ticks(&ticks)) {
        uint64_t since_boot = ticks / (uint64_t)hz * 1000000u + ticks % (uint64_t)hz * 1000000u / (uint64_t)hz;
        uint64_t up = usec_of(&boot);
        if (since_boot <= up && up - since_boot <= ctx.time_usec) {
            ctx.start_usec = ctx.time_usec - (up - since_boot);
            cg_format_utc(ctx.start, ctx.start_usec);
        }
    }
    read_cgroup();
    cg_units_from_cgroup(ctx.cgroup, ctx.unit, sizeof ctx.unit, ctx.user_unit, sizeof ctx.user_unit);
    ctx.container_runtime = cg_container_from_cgroup(ctx.cgroup, ctx.container_id);
    /* Privilege is judged now, not at load: a process may have made itself non-dumpable
     * (or the kernel did, at a setuid()) since. */
    int dumpable = cg_sys_prctl(PR_GET_DUMPABLE, 0, 0);
    ctx.privileged = cg_report_setup.secure || dumpable != 1;
}
