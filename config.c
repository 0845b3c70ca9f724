//go:build ignore

/*
 * config.c — the environment's configuration values, parsed by the constructor (the
 * environment itself is read there, and ignored in AT_SECURE processes).  An invalid value
 * gets a one-line note — in every report, and at load with the debug switch — and the
 * default; it never stops the host.  docs/crashguard.md lists the variables.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "interpose.h"
#include "sigsafe/crashguard.h"

void cg_config_note(const char *what) {
    size_t n = strlen(cg_config.config_note);
    snprintf(cg_config.config_note + n, sizeof cg_config.config_note - n, "%s%s", n ? "; " : "", what);
}

/* An on/off switch: off, 0, false, no; on, 1, true, yes — in any case.  Unset or empty: the
 * default.  Anything else: the default, with a note. */
int cg_parse_switch(const char *name, const char *v, int dflt) {
    static const char *const off[] = {"off", "0", "false", "no"}, *const on[] = {"on", "1", "true", "yes"};
    if (!v || !*v)
        return dflt;
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        if (strcasecmp(v, off[i]) == 0)
            return 0;
        if (strcasecmp(v, on[i]) == 0)
            return 1;
    }
    char note[CG_NOTE_MAX];
    snprintf(note, sizeof note, "%s: '%.24s' is not on or off, so %s", name, v, dflt ? "on" : "off");
    cg_config_note(note);
    return dflt;
}

/* What a report file pattern will expand to can only be known at a crash, but two mistakes
 * show at once: an unknown %x (kept as x) and a last component that cannot fit NAME_MAX
 * whatever the expansions give. */
static void check_file_pattern(const char *pattern) {
    const char *last = strrchr(pattern, '/');
    size_t least = 0; /* bytes the file name has at least: %p, %t, %h, %e give one or more */
    char note[CG_NOTE_MAX];
    for (const char *p = pattern; *p; p++) {
        int in_name = p > last;
        if (*p != '%') {
            least += in_name;
            continue;
        }
        if (!p[1] || !strchr("pteh%", p[1])) {
            snprintf(note, sizeof note, "CRASHGUARD_OUTPUT: '%%%.1s' is not one of %%p %%t %%e %%h %%%% (kept as '%.1s')",
                     p[1] ? p + 1 : "", p[1] ? p + 1 : "%");
            cg_config_note(note);
        }
        if (p[1])
            p++;
        least += in_name;
    }
    if (least > 255) {
        snprintf(note, sizeof note, "CRASHGUARD_OUTPUT: the report file name has %zu bytes or more, over NAME_MAX (255)", least);
        cg_config_note(note);
    }
}

void cg_parse_output(const char *v) {
    cg_config.to_stderr = 1;
    if (!v || !*v)
        return;
    char list[CG_PATH_MAX * 2], note[CG_NOTE_MAX], *save = 0;
    snprintf(list, sizeof list, "%s", v);
    cg_config.to_stderr = 0;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(0, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (strcmp(tok, "stderr") == 0) {
            cg_config.to_stderr = 1;
        } else if (strncmp(tok, "file:", 5) == 0 && tok[5] == '/' && strlen(tok + 5) < CG_PATH_MAX) {
            snprintf(cg_config.report_file_pattern, sizeof cg_config.report_file_pattern, "%s", tok + 5);
            check_file_pattern(tok + 5);
        } else if (strncmp(tok, "file:", 5) == 0) {
            cg_config_note("CRASHGUARD_OUTPUT: a file pattern must be an absolute path");
        } else if (strncmp(tok, "minidump:", 9) == 0 && tok[9] == '/' && strlen(tok + 9) < CG_PATH_MAX) {
            snprintf(cg_config.minidump_pattern, sizeof cg_config.minidump_pattern, "%s", tok + 9);
        } else if (strncmp(tok, "minidump:", 9) == 0) {
            cg_config_note("CRASHGUARD_OUTPUT: a minidump pattern must be an absolute path");
        } else if (strcmp(tok, "journal") == 0) {
            snprintf(cg_config.journal_socket, sizeof cg_config.journal_socket, "/run/systemd/journal/socket");
        } else if (strncmp(tok, "journal:", 8) == 0 && tok[8] == '/' && strlen(tok + 8) < sizeof cg_config.journal_socket) {
            snprintf(cg_config.journal_socket, sizeof cg_config.journal_socket, "%s", tok + 8);
        } else {
            snprintf(note, sizeof note, "CRASHGUARD_OUTPUT: unknown destination '%.40s'", tok);
            cg_config_note(note);
        }
    }
    if (!cg_config.to_stderr && !cg_config.report_file_pattern[0] && !cg_config.journal_socket[0]) {
        /* A minidump is written beside a report, never instead of one: alone, it keeps the
         * report on stderr, as the default would. */
        cg_config.to_stderr = 1;
        if (!cg_config.minidump_pattern[0])
            cg_config_note("CRASHGUARD_OUTPUT: no valid destination, reporting to stderr");
    }
}

static const struct {
    const char *name;
    int sig;
} signal_names[] = {{"SEGV", SIGSEGV}, {"BUS", SIGBUS}, {"ILL", SIGILL}, {"FPE", SIGFPE},
                    {"ABRT", SIGABRT}, {"TRAP", SIGTRAP}, {"SYS", SIGSYS}};
void cg_parse_signals(const char *v, int signal_wanted[]) {
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        signal_wanted[signal_names[i].sig] = 1;
    if (!v || !*v || strcasecmp(v, "all") == 0)
        return;
    char list[256], note[CG_NOTE_MAX], *save = 0;
    int chosen = 0, wanted[CG_NSIG] = {0};
    snprintf(list, sizeof list, "%s", v);
    for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(0, ", ", &save)) {
        const char *name = strncasecmp(tok, "SIG", 3) == 0 ? tok + 3 : tok;
        int found = 0;
        for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
            if (strcasecmp(name, signal_names[i].name) == 0)
                wanted[signal_names[i].sig] = found = chosen = 1;
        if (!found) {
            snprintf(note, sizeof note, "CRASHGUARD_SIGNALS: '%.20s' is not one of SEGV BUS ILL FPE ABRT TRAP SYS", tok);
            cg_config_note(note);
        }
    }
    if (!chosen) {
        cg_config_note("CRASHGUARD_SIGNALS: no valid signal, handling all");
        return;
    }
    memcpy(signal_wanted, wanted, sizeof wanted);
}

void cg_parse_format(const char *v) {
    if (v && strcasecmp(v, "json") == 0)
        cg_config.json = 1;
    else if (v && *v && strcasecmp(v, "text") != 0)
        cg_config_note("CRASHGUARD_FORMAT: not text or json, using text");
}

/* CRASHGUARD_INCLUDE/CRASHGUARD_EXCLUDE: the list's valid patterns, in out (joined by ':'),
 * each invalid one noted.  Returns out, or 0 when no valid pattern is left: the variable's
 * default then applies (include every program, exclude none).  The list is split as
 * cg_glob_list_match splits it: at ':' and ',' outside braces. */
const char *cg_parse_patterns(const char *name, const char *list, char *out, size_t size) {
    size_t n = 0;
    if (!list || !*list || size == 0)
        return 0;
    char pattern[1024], note[CG_NOTE_MAX];
    size_t len = 0;
    int depth = 0, bad = 0;
    for (const char *c = list;; c++) {
        if (*c == 0 || ((*c == ':' || *c == ',') && depth == 0)) {
            pattern[len < sizeof pattern ? len : sizeof pattern - 1] = 0;
            if (len >= sizeof pattern || !cg_glob_valid(pattern)) {
                bad++;
                snprintf(note, sizeof note, "%s: '%.32s' is not a valid pattern (ignored)", name, pattern);
                cg_config_note(note);
            } else if (len > 0 && n + len + 2 <= size) {
                if (n)
                    out[n++] = ':';
                memcpy(out + n, pattern, len);
                n += len;
            }
            if (*c == 0)
                break;
            len = 0, depth = 0;
            continue;
        }
        if (*c == '{')
            depth++;
        else if (*c == '}' && depth > 0)
            depth--;
        if (len < sizeof pattern)
            pattern[len] = *c;
        len++;
    }
    out[n] = 0;
    if (n == 0 && bad) {
        snprintf(note, sizeof note, "%s: no valid pattern left, so %s", name,
                 strcmp(name, "CRASHGUARD_INCLUDE") == 0 ? "every program is included" : "no program is excluded");
        cg_config_note(note);
    }
    return n ? out : 0;
}

/* An image can load the library everywhere and arm it only for some programs: the
 * executable's path must match CRASHGUARD_INCLUDE (default: everything) and not
 * CRASHGUARD_EXCLUDE. */
int cg_program_covered(const char *include, const char *exclude, const char *exe) {
    if (include && *include && !cg_glob_list_match(include, exe))
        return 0;
    return !(exclude && *exclude && cg_glob_list_match(exclude, exe));
}

