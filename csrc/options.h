/*
 * options.h - HMM_* settings from the environment, in one table.
 *
 * Read once, at the heap's first use or the library's constructor, whichever
 * comes first.  They are read straight from `environ`, not with getenv(),
 * because a preloaded allocator can be called before libc is ready for
 * getenv, and must never allocate while reading them.
 *
 * Only the names in the table are options.  Any other HMM_* variable is
 * most likely a misspelling (HMM_STAT=1) that would otherwise be ignored in
 * silence, so it is named in one line on stderr when the options are read:
 * once per process (a forked child has them read already).
 */
#ifndef HMM_OPTIONS_H
#define HMM_OPTIONS_H

#include <stddef.h>

/* X(id, environment name, meaning) */
#define HMM_OPTIONS_LIST(X)                                                   \
    X(OPTION_STATS, "HMM_STATS",                                              \
      "1, yes, true, on: print the stats to stderr at exit; 0, no, false, off: do not; " \
      "anything else is a path to write them to (%p = pid, %% = %)")            \
    X(OPTION_POLICY, "HMM_POLICY",                                            \
      "placement: segregated (default), first-fit, next-fit or best-fit")      \
    X(OPTION_TCACHE, "HMM_TCACHE",                                            \
      "blocks each thread may park per size class (default 32; 0: no caches)") \
    X(OPTION_MMAP_THRESHOLD, "HMM_MMAP_THRESHOLD",                            \
      "requests from this size get a mapping of their own (default 128k, adaptive)") \
    X(OPTION_TRIM_THRESHOLD, "HMM_TRIM_THRESHOLD",                            \
      "give the top of the heap back once this much is free (default 256k)")  \
    X(OPTION_TOP_PAD, "HMM_TOP_PAD",                                          \
      "free bytes kept at the top when trimming (default 64k)")                \
    X(OPTION_CHECK, "HMM_CHECK",                                              \
      "check mode: 1 canaries and fills, 2 also the whole heap every HMM_CHECK_EVERY calls") \
    X(OPTION_CHECK_EVERY, "HMM_CHECK_EVERY",                                  \
      "how often check mode 2 checks the whole heap (default every 1000 calls)")

typedef enum hmm_option {
#define HMM_OPTION_ID(id, name, meaning) id,
    HMM_OPTIONS_LIST(HMM_OPTION_ID)
#undef HMM_OPTION_ID
    OPTION_COUNT
} hmm_option;

/* Scan environ and warn about unknown HMM_* names; does nothing once it has
 * succeeded.  Returns 0 while environ is not set up yet (very early calls),
 * so that a later call can retry. */
int options_load(void);
/* The option's value (pointing into environ), or NULL when unset or empty. */
const char *option_value(hmm_option which);
const char *option_name(hmm_option which);
/* An on/off option: 1 for 1, yes, true or on; 0 for 0, no, false or off
 * (any case); -1 when unset or anything else. */
int option_switch(hmm_option which);
/* A size option: digits with an optional k, m or g suffix (powers of 1024).
 * Returns 1 and sets *out when set and well formed; 0 when unset; -1 when
 * malformed. */
int option_size(hmm_option which, size_t *out);

#endif /* HMM_OPTIONS_H */
