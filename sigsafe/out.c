//go:build ignore

#include "out.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>

#include "sys.h"

void out_init(struct cg_out *o) {
    for (int i = 0; i < CG_OUT_MAX_FDS; i++)
        o->fds[i] = -1;
    o->len = 0;
    o->capture = 0;
    o->capture_size = o->captured = 0;
    o->json_string = 0;
    o->total = 0;
    o->counting = 0;
}

void out_init_counting(struct cg_out *o) {
    out_init(o);
    o->counting = 1;
}

void out_capture(struct cg_out *o, char *buf, size_t size) {
    o->capture = buf;
    o->capture_size = size;
    o->captured = 0;
}

void out_add_fd(struct cg_out *o, int fd) {
    for (int i = 0; fd >= 0 && i < CG_OUT_MAX_FDS; i++) {
        if (o->fds[i] == fd)
            return;
        if (o->fds[i] < 0) {
            o->fds[i] = fd;
            return;
        }
    }
}

/* How long one chunk may wait for the descriptor to accept it. */
#define WRITE_WAIT_MS 1000

/* write() may be partial (pipes) or interrupted; a failed write drops the rest silently:
 * there is nobody to tell, and the host must still die of its own signal.  A pipe nobody
 * reads would block a plain write() forever and turn a crash into a hang: each chunk waits
 * at most WRITE_WAIT_MS for room (poll), and is at most PIPE_BUF bytes, which a pipe with
 * that much room takes without blocking.  After one timeout the descriptor is given up. */
static void flush_to(int *fd, const char *buf, size_t len) {
    size_t done = 0;
    while (done < len && *fd >= 0) {
        struct pollfd p = {.fd = *fd, .events = POLLOUT, .revents = 0};
        int ready = cg_sys_poll(&p, 1, WRITE_WAIT_MS);
        if (ready == -EINTR)
            continue;
        if (ready <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
            *fd = -1;
            break;
        }
        size_t chunk = len - done < PIPE_BUF ? len - done : PIPE_BUF;
        long n = cg_sys_write(*fd, buf + done, chunk);
        if (n == -EINTR)
            continue;
        if (n <= 0) {
            *fd = -1;
            break;
        }
        done += (size_t)n;
    }
}

void out_flush(struct cg_out *o) {
    for (int i = 0; i < CG_OUT_MAX_FDS; i++)
        flush_to(&o->fds[i], o->buf, o->len);
    o->len = 0;
}

static void out_raw(struct cg_out *o, const char *s, size_t n);

void out_strn(struct cg_out *o, const char *s, size_t n) {
    if (!o->json_string) {
        out_raw(o, s, n);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            out_raw(o, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out_raw(o, esc, 6);
        } else {
            out_raw(o, (const char *)&c, 1);
        }
    }
}

void out_json_open(struct cg_out *o) {
    out_raw(o, "\"", 1);
    o->json_string = 1;
}

void out_json_close(struct cg_out *o) {
    o->json_string = 0;
    out_raw(o, "\"", 1);
}

void out_json_key(struct cg_out *o, const char *key) {
    out_raw(o, "\"", 1);
    out_raw(o, key, cg_strlen(key));
    out_raw(o, "\":", 2);
}

static void out_raw(struct cg_out *o, const char *s, size_t n) {
    o->total += n;
    if (o->counting)
        return;
    for (size_t i = 0; o->capture && i < n && o->captured < o->capture_size; i++)
        o->capture[o->captured++] = s[i];
    for (size_t i = 0; i < n; i++) {
        if (o->len == sizeof o->buf)
            out_flush(o);
        o->buf[o->len++] = s[i];
    }
}

size_t cg_strlen(const char *s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

size_t cg_strnlen(const char *s, size_t max) {
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

const char *cg_base_name(const char *path) {
    const char *base = path;
    for (const char *p = path; *p; p++)
        if (*p == '/')
            base = p + 1;
    return base;
}

int cg_streq(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

void out_str(struct cg_out *o, const char *s) { out_strn(o, s, cg_strlen(s)); }

void out_char(struct cg_out *o, char c) { out_strn(o, &c, 1); }

size_t cg_format_udec(char tmp[24], uint64_t v) {
    size_t i = 24;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return i;
}

void out_udec(struct cg_out *o, uint64_t v) {
    char tmp[24];
    size_t i = cg_format_udec(tmp, v);
    out_strn(o, tmp + i, sizeof tmp - i);
}

void out_dec(struct cg_out *o, int64_t v) {
    if (v < 0) {
        out_char(o, '-');
        out_udec(o, (uint64_t)0 - (uint64_t)v);
    } else {
        out_udec(o, (uint64_t)v);
    }
}

void out_hex(struct cg_out *o, uint64_t v, int width) {
    static const char digits[] = "0123456789abcdef";
    char tmp[18];
    int i = sizeof tmp;
    do {
        tmp[--i] = digits[v & 15];
        v >>= 4;
    } while (v && i > 2);
    while ((int)sizeof tmp - i < width && i > 2)
        tmp[--i] = '0';
    tmp[--i] = 'x';
    tmp[--i] = '0';
    out_strn(o, tmp + i, sizeof tmp - (size_t)i);
}

void out_hexbytes(struct cg_out *o, const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        char two[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
        out_strn(o, two, 2);
    }
}
