/*
 * sinks.h — report destinations besides stderr (docs/crashguard.md, CRASHGUARD_OUTPUT).
 */
#ifndef CG_SINKS_H
#define CG_SINKS_H

#include <stdint.h>

#include "out.h"

/* Creates the report file named by the configured pattern; -1 if none is configured or it
 * could not be created.  Either way the outcome is remembered for report_file_note(). */
int open_report_file(void);
/* Whether the file just created is root's, in a directory of root's that no one else may
 * write: a destination the caller of a privileged process cannot read (docs/security.md). */
int report_file_root_owned(void);
/* The name of the report file open_report_file created, or 0. */
const char *report_file_created(void);
/* Whether the journal socket is root's, in such a directory; if so, it is kept open until
 * send_to_journal, which then sends to the socket in the directory checked. */
int journal_root_owned(void);

/* Expands a file pattern's %p %t %e %h %% into path[size]; returns 0 when it does not fit.
 * Shared by the report file and the minidump (minidump.c). */
int cg_expand_pattern(const char *pattern, char *path, size_t size);
/* Copies the directory of path[len] into dir (at least as large; "/" for a name at the root);
 * returns where the last component begins in path. */
size_t cg_split_dir(const char *path, size_t len, char *dir);
/* Creates name exclusively (O_EXCL | O_NOFOLLOW: never an existing file, never through a
 * planted link), mode 0600, for writing; the descriptor or a negative errno. */
int cg_create_exclusive(const char *name);

/* One line for the report about the report file (written, or why not); nothing if none. */
void out_report_file_note(struct cg_out *o);
/* Sends the report (report[len]) to the journal socket, if configured, as one native
 * protocol datagram: MESSAGE, PRIORITY=2, the signal, executable, signature, message,
 * context and tags as fields (docs/crashguard.md lists them), what the report leaves out
 * (redacted, or 0) and the whole report as CRASHGUARD_REPORT.  A crash over the storm limit
 * (repeat: its number in the window) has no report (0): its entry counts it instead.
 * Returns 0 if it could not be sent. */
int send_to_journal(int sig, const char *report, size_t len, const char *redacted, uint32_t repeat);
/* One line saying why the last send_to_journal failed. */
void out_journal_failure(struct cg_out *o);
#endif
