/*
 * limits.h — what keeps a crash loop from filling a disk or flooding a journal (limits.c;
 * docs/crashguard.md: CRASHGUARD_STORM_LIMIT, CRASHGUARD_MAX_FILES, CRASHGUARD_MAX_USE).
 */
#ifndef CG_LIMITS_H
#define CG_LIMITS_H

#include <stdint.h>

#include "out.h"

/* Counts this crash (its signature, now) among the crashes of this user's processes in the
 * storm window.  Returns 0 when it gets a full report, else its number in the window
 * (greater than the limit): then it gets one line. */
uint32_t cg_storm_count(uint64_t signature);
/* For a full report: how many crashes of this signature the last window summarized in one
 * line each, if any (a notes line). */
int storm_noted(void);
void out_storm_note(struct cg_out *o);
/* The one line of a crash over the limit (text or JSON, as configured). */
void out_storm_line(struct cg_out *o, int sig, uint32_t number);

/* After a crash wrote its report file and minidump: in each directory written to, the
 * oldest files of ours (names that fit a pattern of CRASHGUARD_OUTPUT, owned by us, a
 * report's or a minidump's first bytes) are removed until the caps hold.  The files of this
 * crash (names given, or 0) are never removed. */
void cg_enforce_retention(const char *report_file, const char *minidump_file);
#endif
