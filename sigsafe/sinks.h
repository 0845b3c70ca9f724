/*
 * sinks.h — report destinations besides stderr (docs/crashguard.md, CRASHGUARD_OUTPUT).
 */
#ifndef CG_SINKS_H
#define CG_SINKS_H

#include "out.h"

/* Creates the report file named by the configured pattern; -1 if none is configured or it
 * could not be created.  Either way the outcome is remembered for report_file_note(). */
int open_report_file(void);

/* One line for the report about the report file (written, or why not); nothing if none. */
void out_report_file_note(struct cg_out *o);
#endif
