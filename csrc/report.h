/*
 * report.h - HMM's own output: the stats report, written with write(2).
 *
 * Format, one line each, so that scripts can read it from a file or out of
 * a program's stderr:
 *     hmm: pid 1234
 *     hmm: policy segregated
 *     hmm: check 0
 *     hmm: alloc_calls 5678
 *     ...
 */
#ifndef HMM_REPORT_H
#define HMM_REPORT_H

#include "stats.h"

#include <stddef.h>

/* Write the report to fd. */
void report_stats(const struct hmm_stats *stats, const char *policy, int check_level, int fd);
/* Get ready to report at exit (called once at start-up, after the options
 * are loaded): remember what stderr is, and keep a copy of it. */
void report_prepare(void);
/* Write it where HMM_STATS says: 1/yes/true/on is stderr (the stderr of
 * start-up, and only while a descriptor still leads to it), 0/no/false/off
 * nowhere, anything else a path in which %p stands for the pid and %% for %.
 * Does nothing when HMM_STATS is unset. */
void report_stats_as_configured(const struct hmm_stats *stats, const char *policy, int check_level);
/* One line to stderr: "hmm: " + the parts, up to a NULL. */
void report_line(const char *first, ...);
/* Expand a path template (HMM_STATS, HMM_TRACE): %p is the pid, %% a
 * single %; any other % stays as it is.  Cut short to fit `cap`. */
void report_expand_path(const char *template, char *out, size_t cap);
/* Write all of buf to fd, retrying short writes. */
void report_write(int fd, const char *buf, size_t len);

#endif /* HMM_REPORT_H */
