/*
 * options.h - HMM_* settings from the environment, in one table.
 *
 * Read once, at the heap's first use or the library's constructor, whichever
 * comes first.  They are read straight from `environ`, not with getenv(),
 * because a preloaded allocator can be called before libc is ready for
 * getenv, and must never allocate while reading them.
 */
#ifndef HMM_OPTIONS_H
#define HMM_OPTIONS_H

/* X(id, environment name, meaning) */
#define HMM_OPTIONS_LIST(X)                                                   \
    X(OPTION_STATS, "HMM_STATS",                                              \
      "1: print the stats to stderr at exit; a path (%p = pid): write them there")

typedef enum hmm_option {
#define HMM_OPTION_ID(id, name, meaning) id,
    HMM_OPTIONS_LIST(HMM_OPTION_ID)
#undef HMM_OPTION_ID
    OPTION_COUNT
} hmm_option;

/* Scan environ; does nothing once it has succeeded.  Returns 0 while environ
 * is not set up yet (very early calls), so that a later call can retry. */
int options_load(void);
/* The option's value (pointing into environ), or NULL when unset or empty. */
const char *option_value(hmm_option which);

#endif /* HMM_OPTIONS_H */
