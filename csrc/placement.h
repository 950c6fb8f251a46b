/*
 * placement.h - which free block serves a request.
 *
 * The heap files every free block (except the top, see heap.h) with
 * placement and asks it for a block of at least a given size.  A policy
 * never calls the OS and keeps no globals: all of its state lives in struct
 * hmm_placement, inside the heap.
 *
 * Policies, selected per heap at run time:
 *   segregated  the default: two-level segregated fit (TLSF).  Free blocks
 *               sit in size classes found through two bitmaps, so insert,
 *               remove and find are O(1) whatever the number of blocks.
 *   first-fit   the seed's: the first block big enough on one free list.
 *   next-fit    first fit resuming where the previous search stopped.
 *   best-fit    the smallest block big enough: walks the whole list.
 */
#ifndef HMM_PLACEMENT_H
#define HMM_PLACEMENT_H

#include "block.h"

#include <stdint.h>

typedef enum hmm_policy {
    HMM_POLICY_SEGREGATED = 0,
    HMM_POLICY_FIRST_FIT,
    HMM_POLICY_NEXT_FIT,
    HMM_POLICY_BEST_FIT,
    HMM_POLICY_COUNT
} hmm_policy;

/* Segregated fit: first level = power of two, second level = SL_COUNT
 * equal slices of it.  Blocks below SMALL_LIMIT get one class per 16 bytes. */
#define HMM_SL_SHIFT 4
#define HMM_SL_COUNT (1 << HMM_SL_SHIFT)
#define HMM_FL_COUNT 48

typedef struct hmm_placement {
    hmm_policy policy;
    /* first-fit, next-fit, best-fit: one doubly linked list */
    hmm_block *list;
    hmm_block *rover;          /* next-fit: where the last search stopped */
    /* segregated */
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[HMM_FL_COUNT];
    hmm_block *classes[HMM_FL_COUNT][HMM_SL_COUNT];
} hmm_placement;

void placement_init(hmm_placement *p, hmm_policy policy);
/* b is free and its header is final. */
void placement_insert(hmm_placement *p, hmm_block *b);
void placement_remove(hmm_placement *p, hmm_block *b);
/* A free block of at least `size` bytes, still filed; NULL if none.
 * Never walks blocks in use. */
hmm_block *placement_find(hmm_placement *p, size_t size);
/* Visit the free blocks (for stats and the checker); stops when visit
 * returns nonzero. */
void placement_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx);
/* Count broken links or misfiled blocks in the structure (for the checker). */
unsigned placement_check(const hmm_placement *p);

/* "segregated", "first-fit", ... ; NULL past the end. */
const char *placement_policy_name(hmm_policy policy);
/* The policy with that name, or HMM_POLICY_COUNT if none. */
hmm_policy placement_policy_from_name(const char *name);

#endif /* HMM_PLACEMENT_H */
