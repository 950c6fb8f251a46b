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

/*
 * Segregated fit classes (the picture is in placement_segregated.c).  Below
 * SMALL_LIMIT a class is one 16-byte size; from there on, first level (fl)
 * = the power of two, second level (sl) = SL_COUNT equal slices of it.
 * SL_SHIFT 5 makes the slices 16 bytes wide up to 1 KiB (exact classes) and
 * at most 1/32 of the size above: little rounding waste.
 */
#define HMM_SL_SHIFT 5
#define HMM_SL_COUNT (1 << HMM_SL_SHIFT)               /* 32: one uint32_t bitmap */
#define HMM_SMALL_SHIFT (HMM_SL_SHIFT + 4)             /* SL_COUNT slices of 16 bytes */
#define HMM_SMALL_LIMIT ((size_t)1 << HMM_SMALL_SHIFT) /* 512 */
#define HMM_FL_COUNT (64 - HMM_SMALL_SHIFT + 1)        /* 56: every 64-bit size */

typedef struct hmm_placement {
    hmm_policy policy;
    /* Where free blocks can be: a link revealing an address outside
     * [low, high) or misaligned was overwritten (see block.h, sealed links),
     * and is reported through on_corrupt (which need not return) instead of
     * followed.  Set by the heap; kept across placement_init. */
    uintptr_t low, high;
    void (*on_corrupt)(struct hmm_placement *p, hmm_block *b);
    /* first-fit, next-fit, best-fit: one doubly linked list, LIFO */
    hmm_block *list;
    hmm_block *rover;          /* next-fit: where the next search starts (NULL: the head) */
    /* segregated: one LIFO list per class; a bit per non-empty class, and a
     * bit per first level that has any */
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[HMM_FL_COUNT];
    hmm_block *classes[HMM_FL_COUNT][HMM_SL_COUNT];
} hmm_placement;

void placement_init(hmm_placement *p, hmm_policy policy);
/* Widen the bounds to take in [low, high) (a new segment). */
void placement_add_bounds(hmm_placement *p, uintptr_t low, uintptr_t high);
/* b is free and its header is final. */
void placement_insert(hmm_placement *p, hmm_block *b);
void placement_remove(hmm_placement *p, hmm_block *b);
/* A free block of at least `size` bytes, still filed; NULL if none.
 * Never walks blocks in use.  A filed block met on the way whose header is
 * not sealed right is returned as it is, for the caller to report. */
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

/* ---- Sealed links, for the policy files --------------------------------- */

static inline int link_plausible(const hmm_placement *p, const hmm_block *to)
{
    return !to || (!link_misaligned(to) && (uintptr_t)to >= p->low && (uintptr_t)to < p->high);
}

/* b's link in *field, revealed and checked: a bad one is reported, and
 * followed no further (NULL). */
static inline hmm_block *link_follow(hmm_placement *p, hmm_block *b, hmm_block *const *field)
{
    hmm_block *to = link_seal(field, *field);
    if (__builtin_expect(link_plausible(p, to), 1))
        return to;
    p->on_corrupt(p, b);
    return NULL;
}
static inline hmm_block *next_of(hmm_placement *p, hmm_block *b) { return link_follow(p, b, &b->next_free); }
static inline hmm_block *prev_of(hmm_placement *p, hmm_block *b) { return link_follow(p, b, &b->prev_free); }
static inline void set_next(hmm_block *b, const hmm_block *to) { b->next_free = link_seal(&b->next_free, to); }
/* Do b's neighbours on its list link back to b ("safe unlinking": a
 * neighbour that does not was overwritten)?  The stored links are compared
 * sealed, so nothing more needs checking. */
static inline int links_back(const hmm_block *b, const hmm_block *next, const hmm_block *prev,
                             hmm_block *const *head)
{
    return (!next || next->prev_free == link_seal(&next->prev_free, b)) &&
           (prev ? prev->next_free == link_seal(&prev->next_free, b) : *head == b);
}
static inline void set_prev(hmm_block *b, const hmm_block *to) { b->prev_free = link_seal(&b->prev_free, to); }
/* The most blocks a list can hold: a walk that goes on longer is going
 * round a cycle overwritten links made, and must stop. */
static inline size_t placement_most_blocks(const hmm_placement *p)
{
    return (p->high - p->low) / HMM_MIN_BLOCK + 1;
}

/* For the checkers, which count rather than report. */
static inline const hmm_block *next_raw(const hmm_block *b) { return link_seal(&b->next_free, b->next_free); }
static inline const hmm_block *prev_raw(const hmm_block *b) { return link_seal(&b->prev_free, b->prev_free); }

/* Between placement.c, which picks the policy, and the policy files. */
void list_insert(hmm_placement *p, hmm_block *b);
void list_remove(hmm_placement *p, hmm_block *b);
hmm_block *list_find_first(hmm_placement *p, size_t size);
hmm_block *list_find_next(hmm_placement *p, size_t size);
hmm_block *list_find_best(hmm_placement *p, size_t size);
void list_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx);
unsigned list_check(const hmm_placement *p);

void segregated_insert(hmm_placement *p, hmm_block *b);
void segregated_remove(hmm_placement *p, hmm_block *b);
hmm_block *segregated_find(hmm_placement *p, size_t size);
void segregated_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx);
unsigned segregated_check(const hmm_placement *p);

#endif /* HMM_PLACEMENT_H */
