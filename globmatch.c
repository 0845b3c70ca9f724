//go:build ignore

/*
 * globmatch.c — CRASHGUARD_INCLUDE / CRASHGUARD_EXCLUDE patterns, matched in the
 * constructor before any Go runs (an excluded process must not start the runtime).
 * The semantics are doublestar's (github.com/bmatcuk/doublestar/v4), which the tests use as
 * the reference: `*`, `?` and `[...]` within one path segment (fnmatch), `**` as a whole
 * segment for zero or more segments, `{a,b}` for any of the alternatives (nested groups
 * too; the alternatives may hold `/` and `**`).  In a list, `:` and `,` separate patterns
 * except inside braces.
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

static int match_plain(const char *pattern, const char *path) {
    char p[1024], s[1024], *pseg[MAX_SEGMENTS], *sseg[MAX_SEGMENTS];
    if (strlen(pattern) >= sizeof p || strlen(path) >= sizeof s)
        return 0;
    strcpy(p, pattern);
    strcpy(s, path);
    int np = split(p, pseg), ns = split(s, sseg);
    return np > 0 && ns > 0 && match_segments(pseg, np, sseg, ns);
}

/* Where c's brace group closes (its '}'), or 0 if it never does; a backslash escapes the
 * next character and '[...]' is a class, whose braces are literal. */
static const char *skip_class(const char *c) {
    const char *e = c + 1;
    if (*e == '!' || *e == '^')
        e++;
    if (*e == ']')
        e++;
    while (*e && *e != ']')
        e++;
    return *e ? e : c; /* an unclosed '[' is an ordinary character */
}

static const char *group_end(const char *open) {
    int depth = 0;
    for (const char *c = open; *c; c++) {
        if (*c == '\\' && c[1])
            c++;
        else if (*c == '[')
            c = skip_class(c);
        else if (*c == '{')
            depth++;
        else if (*c == '}' && --depth == 0)
            return c;
    }
    return 0;
}

/* The first brace group is replaced by each of its alternatives in turn (those may hold
 * further groups): a pattern is matched as its expansions, at most 256 of them, so no value
 * in the environment can keep the constructor busy. */
static int match_braces(const char *pattern, const char *path, int *budget) {
    const char *open = 0;
    for (const char *c = pattern; *c && !open; c++) {
        if (*c == '\\' && c[1])
            c++;
        else if (*c == '[')
            c = skip_class(c);
        else if (*c == '{')
            open = c;
    }
    if (!open)
        return match_plain(pattern, path);
    const char *close = group_end(open);
    if (!close)
        return 0; /* unbalanced: doublestar calls it a bad pattern, which matches nothing */
    size_t head = (size_t)(open - pattern), tail = strlen(close + 1);
    for (const char *alt = open + 1;;) {
        const char *end = alt; /* this alternative ends at a ',' of this group, or at '}' */
        for (int level = 0; end < close; end++) {
            if (*end == '\\' && end + 1 < close)
                end++;
            else if (*end == '[' && skip_class(end) < close)
                end = skip_class(end);
            else if (*end == '{')
                level++;
            else if (*end == '}')
                level--;
            else if (*end == ',' && level == 0)
                break;
        }
        char expanded[1024];
        size_t len = (size_t)(end - alt);
        if (head + len + tail >= sizeof expanded)
            return 0;
        memcpy(expanded, pattern, head);
        memcpy(expanded + head, alt, len);
        memcpy(expanded + head + len, close + 1, tail + 1);
        if (--*budget < 0)
            return 0;
        if (match_braces(expanded, path, budget))
            return 1;
        if (end >= close)
            return 0;
        alt = end + 1;
    }
}

int cg_glob_match(const char *pattern, const char *path) {
    int budget = 256;
    return match_braces(pattern, path, &budget);
}

int cg_glob_list_match(const char *list, const char *path) {
    char pattern[1024];
    size_t n = 0;
    int depth = 0, too_long = 0;
    for (const char *c = list;; c++) {
        if (*c == 0 || ((*c == ':' || *c == ',') && depth == 0)) {
            pattern[n] = 0;
            if (n > 0 && !too_long && cg_glob_match(pattern, path))
                return 1;
            if (*c == 0)
                return 0;
            n = 0, depth = 0, too_long = 0;
            continue;
        }
        if (*c == '{')
            depth++;
        else if (*c == '}' && depth > 0)
            depth--;
        if (n + 1 < sizeof pattern)
            pattern[n++] = *c;
        else
            too_long = 1; /* never matches */
    }
}

/* Whether doublestar would accept the pattern (its ValidatePattern): every '[' closes and its
 * class is not empty, braces balance, no trailing backslash.  The constructor drops a pattern
 * that is not, with a note: such a pattern matches nothing, and an include list of nothing
 * but bad patterns would otherwise disarm every program without a word. */
int cg_glob_valid(const char *p) {
    int depth = 0;
    for (; *p; p++) {
        if (*p == '\\') {
            if (!*++p)
                return 0;
        } else if (*p == '[') {
            p++;
            if (*p == '^' || *p == '!')
                p++;
            if (!*p || *p == ']')
                return 0;
            for (; *p && *p != ']'; p++)
                if (*p == '\\' && !*++p)
                    return 0;
            if (!*p)
                return 0;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}' && depth-- == 0) {
            return 0;
        }
    }
    return depth == 0;
}
