/*
 * out.h — formatting into a fixed buffer and raw write(): the only output the handler has.
 * No stdio (it locks and allocates), no errno-dependent library calls.
 */
#ifndef CG_OUT_H
#define CG_OUT_H

#include <stddef.h>
#include <stdint.h>

#define CG_OUT_MAX_FDS 3

/* One report, written to every destination (stderr, a report file, ...). */
struct cg_out {
    int fds[CG_OUT_MAX_FDS]; /* -1: unused or given up */
    size_t len;
    char buf[8192];
    char *capture;           /* when set, a copy of everything written (the journal needs the
                                whole report in one message); truncated at capture_size */
    size_t capture_size, captured;
    int json_string;         /* inside a JSON string: escape what out_strn writes */
    size_t total;            /* bytes written through it since out_init (what a size bound
                                counts) */
    int counting;            /* only count: nothing is buffered, written or captured (how
                                the report measures a thread before it decides to print it) */
};

/* A JSON string value: "..." with everything written between escaped. */
void out_json_open(struct cg_out *o);
void out_json_close(struct cg_out *o);
/* "key": — keys are plain ASCII literals. */
void out_json_key(struct cg_out *o, const char *key);

/* Keeps a copy of the report in buf[size] as it is written. */
void out_capture(struct cg_out *o, char *buf, size_t size);

void out_init(struct cg_out *o);
/* An out that only counts the bytes written through it (total). */
void out_init_counting(struct cg_out *o);
void out_add_fd(struct cg_out *o, int fd);
void out_flush(struct cg_out *o);
void out_str(struct cg_out *o, const char *s);
void out_strn(struct cg_out *o, const char *s, size_t n);
void out_char(struct cg_out *o, char c);
void out_dec(struct cg_out *o, int64_t v);
void out_udec(struct cg_out *o, uint64_t v);
/* 0x-prefixed lower-case hex; width pads with zeros (0 = minimal). */
void out_hex(struct cg_out *o, uint64_t v, int width);
void out_hexbytes(struct cg_out *o, const uint8_t *p, size_t n);

/* Writes v's decimal digits at the end of tmp; returns the index of the first. */
size_t cg_format_udec(char tmp[24], uint64_t v);

size_t cg_strlen(const char *s);
size_t cg_strnlen(const char *s, size_t max);
int cg_streq(const char *a, const char *b);
/* What follows the last '/' of path (all of it when there is none). */
const char *cg_base_name(const char *path);
#endif
