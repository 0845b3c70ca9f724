//go:build ignore

/*
 * globmatch.c — CRASHGUARD_INCLUDE / CRASHGUARD_EXCLUDE patterns, matched in the
 * constructor before any Go runs (an excluded process must not start the runtime).
 * The semantics are doublestar's (github.com/bmatcuk/doublestar/v4), which the tests use as
 * the reference: `*`, `?` and `[...]` within one path segment (fnmatch), `**` as a whole
 * segment for zero or more segments.  Brace alternatives `{a,b}` are not supported.
 */
#include <fnmatch.h>
#include <string.h>

#include "interpose.h"

#define MAX_SEGMENTS 64

static int split(char *s, char **seg) {
    int n = 0;
    for (char *p = s;; p++) {
        if (n == MAX_SEGMENTS)
            return -1;
        seg[n++] = p;
        p = strchr(p, '/');
        if (!p)
            return n;
        *p = 0;
    }
}

static int match_segments(char **pat, int np, char **str, int ns) {
    if (np == 0)
        return ns == 0;
    if (strcmp(pat[0], "**") == 0) {
        for (int k = 0; k <= ns; k++)
            if (match_segments(pat + 1, np - 1, str + k, ns - k))
                return 1;
        return 0;
    }
    if (ns == 0 || fnmatch(pat[0], str[0], 0) != 0)
        return 0;
    return match_segments(pat + 1, np - 1, str + 1, ns - 1);
}

int cg_glob_match(const char *pattern, const char *path) {
    char p[1024], s[1024], *pseg[MAX_SEGMENTS], *sseg[MAX_SEGMENTS];
    if (strlen(pattern) >= sizeof p || strlen(path) >= sizeof s)
        return 0;
    strcpy(p, pattern);
    strcpy(s, path);
    int np = split(p, pseg), ns = split(s, sseg);
    return np > 0 && ns > 0 && match_segments(pseg, np, sseg, ns);
}

int cg_glob_list_match(const char *list, const char *path) {
    char copy[4096], *save = 0;
    if (strlen(list) >= sizeof copy)
        return 0;
    strcpy(copy, list);
    for (char *tok = strtok_r(copy, ":,", &save); tok; tok = strtok_r(0, ":,", &save))
        if (*tok && cg_glob_match(tok, path))
            return 1;
    return 0;
}
