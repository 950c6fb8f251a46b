/*
 * check_mode.h - check mode's canaries and fills, for the core's files
 * (see check_mode.c for the layout of a guarded block).
 */
#ifndef HMM_CHECK_MODE_H
#define HMM_CHECK_MODE_H

#include "block.h"
#include "hmm.h"

#define GUARD_EXTRA 16u  /* bytes a guarded block needs beyond the request */

static inline int block_guarded(const hmm_block *b) { return (b->size_flags & HMM_GUARDED) != 0; }

/* The bytes the caller asked for in a guarded block; SIZE_MAX when the
 * word holding that was overwritten. */
size_t guard_request(const hmm_block *b);
/* Make b guarded for `request` bytes: bytes [keep, request) get the alloc
 * fill, the rest the canary. */
void guard_seal(hmm_heap *h, hmm_block *b, size_t request, size_t keep);
/* Is b's canary intact?  If not, the overflow is reported and 0 returned. */
int guard_intact(hmm_heap *h, const hmm_block *b);
/* The first byte of b's canary (or its size word) that changed, or NULL. */
const unsigned char *guard_canary_changed(const hmm_block *b);

/* Free memory: fill [from, to), or check it still holds the fill (the first
 * byte written is reported, and 0 returned, if not). */
void guard_fill_free(void *from, void *to);
int guard_free_intact(hmm_heap *h, const void *from, const void *to);
/* The first byte of free memory [from, to) that changed, passing over the
 * headers merges left behind; or NULL. */
const unsigned char *guard_free_changed(const void *from, const void *to);
/* The first byte in [from, to) that is not `fill`, or NULL. */
const unsigned char *guard_first_changed(const void *from, const void *to, unsigned char fill);

/* After each operation in mode 2: the periodic whole-heap check. */
void guard_tick(hmm_heap *h);

#endif /* HMM_CHECK_MODE_H */
