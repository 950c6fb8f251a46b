/*
 * options.h - the HMM_* settings, in one table: name, default, meaning.
 *
 * The table is the one place that says what the options are and what each
 * one is when it is not set.  The code that applies an option takes its
 * default from here (option_default_size), hmm-run's help and the README's
 * options table show the same column (the core hands it to Python through
 * hmm_option_default, hmm.h), and a default is written as a user would
 * write the variable, so it goes through the very parser the variable does.
 *
 * The table itself and the value parsers (option_table.c) are part of the
 * core, which knows no environment.  Reading the variables is the preload
 * library's (options.c): once, at the heap's first use or the library's
 * constructor, whichever comes first, straight from `environ`, not with
 * getenv(), because a preloaded allocator can be called before libc is
 * ready for getenv, and must never allocate while reading them.
 *
 * Only the names in the table are options.  Any other HMM_* variable is
 * most likely a misspelling (HMM_STAT=1) that would otherwise be ignored in
 * silence, so it is named in one line on stderr when the options are read:
 * once per process (a forked child has them read already).
 */
#ifndef HMM_OPTIONS_H
#define HMM_OPTIONS_H

#include <stddef.h>

/* X(id, environment name, default as the variable would hold it, meaning).
 * The reasons for the defaults, where there is more to say than the
 * meaning, are beside them. */
#define HMM_OPTIONS_LIST(X)                                                   \
    X(OPTION_STATS, "HMM_STATS", "off",                                       \
      "1, yes, true, on: print the stats to stderr at exit; 0, no, false, off: do not; " \
      "anything else is a path to write them to (%p = pid, %% = %)")            \
    /* O(1) whatever the heap holds (README: Placement policies) */          \
    X(OPTION_POLICY, "HMM_POLICY", "segregated",                              \
      "placement: segregated, first-fit, next-fit or best-fit")               \
    X(OPTION_TCACHE, "HMM_TCACHE", "32",                                      \
      "blocks each thread may park per size class (0: no caches)")            \
    /* glibc's: below, a mapping of its own costs more than it saves */       \
    X(OPTION_MMAP_THRESHOLD, "HMM_MMAP_THRESHOLD", "128k",                    \
      "requests from this size get a mapping of their own (adaptive unless set)") \
    /* don't hand back small change */                                        \
    X(OPTION_TRIM_THRESHOLD, "HMM_TRIM_THRESHOLD", "256k",                    \
      "give the top of the heap back once this much is free (adaptive unless set)") \
    /* nor what we would ask for again soon */                                \
    X(OPTION_TOP_PAD, "HMM_TOP_PAD", "64k",                                   \
      "free bytes kept at the top when trimming")                             \
    /* a program that frees a batch and builds the next one at once would  \
     * otherwise fault every page of it in again, each time */              \
    X(OPTION_TRIM_DELAY, "HMM_TRIM_DELAY", "20",                              \
      "a heap that grows again within this many milliseconds of a trim keeps its top until it has not grown for as long (0: trim at once)") \
    X(OPTION_CHECK, "HMM_CHECK", "0",                                         \
      "check mode: 1 canaries and fills, 2 also the whole heap every HMM_CHECK_EVERY calls") \
    X(OPTION_CHECK_EVERY, "HMM_CHECK_EVERY", "1000",                          \
      "how often check mode 2 checks the whole heap, in calls")                 \
    X(OPTION_TRACE, "HMM_TRACE", "off",                                       \
      "libhmm-trace.so: a path to record every call in (%p = pid, %% = %); 1, yes, true, on: hmm-%p.trace; 0, no, false, off: none") \
    /* deep enough for an interpreter's, shallow enough to unwind fast */     \
    X(OPTION_TRACE_DEPTH, "HMM_TRACE_DEPTH", "32",                            \
      "frames of call stack per call in a trace, 0 to 32 (0: none)")            \
    X(OPTION_TRACE_UNWIND, "HMM_TRACE_UNWIND", "hmm",                        \
      "how a trace's stacks are found: hmm (its own cached DWARF unwinder), libunwind or libgcc")

typedef enum hmm_option {
#define HMM_OPTION_ID(id, name, fallback, meaning) id,
    HMM_OPTIONS_LIST(HMM_OPTION_ID)
#undef HMM_OPTION_ID
    OPTION_COUNT
} hmm_option;

/* ---- The table and the parsers (option_table.c, in the core) ----------- */

const char *option_name(hmm_option which);
/* The default, as the variable would hold it ("128k"). */
const char *option_default(hmm_option which);
/* A size value: digits with an optional k, m or g suffix (powers of 1024).
 * Returns 1 and sets *out when well formed, -1 when not. */
int option_parse_size(const char *value, size_t *out);
/* An on/off value: 1 for 1, yes, true or on; 0 for 0, no, false or off
 * (any case); -1 for anything else. */
int option_parse_switch(const char *value);
/* A size option's default, parsed.  The table's size defaults are well
 * formed (the tests parse every one), so there is no failure to report. */
size_t option_default_size(hmm_option which);

/* ---- The environment (options.c, in the preload library) --------------- */

/* Scan environ and warn about unknown HMM_* names; does nothing once it has
 * succeeded.  Returns 0 while environ is not set up yet (very early calls),
 * so that a later call can retry. */
int options_load(void);
/* The option's value (pointing into environ), or NULL when unset or empty. */
const char *option_value(hmm_option which);
/* option_parse_switch of the value; -1 when unset. */
int option_switch(hmm_option which);
/* option_parse_size of the value: 1 and *out set when set and well formed;
 * 0 when unset; -1 when malformed. */
int option_size(hmm_option which, size_t *out);

#endif /* HMM_OPTIONS_H */
