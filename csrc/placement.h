/*
 * placement.h - which free block serves a request.
 *
 * The heap files every free block (except the top, see heap.h) with
 * placement and asks it for a block of at least a given size.  A policy
 * never calls the OS and keeps no globals: all of its state lives in struct
 * hmm_placement, inside the heap.
 *
 * A policy is a table of operations (struct hmm_placement_ops, as struct
 * hmm_source is for memory), defined in the policy's own file; placement.c
 * lists the tables (HMM_PLACEMENTS, default first) and dispatches through
 * the heap's.  Adding a policy: a file defining `NAME_placement`, a row in
 * HMM_PLACEMENTS, and its state in struct hmm_placement if it needs any.
 * The policies:
 *   segregated  the default: two-level segregated fit (TLSF).  Free blocks
 *               sit in size classes found through two bitmaps, so insert,
 *               remove and find are O(1) whatever the number of blocks.
 *               (placement_segregated.c)
 *   first-fit   the seed's: the first block big enough on one free list.
 *   next-fit    first fit resuming where the previous search stopped.
 *               (the two: placement_list.c, over one shared list)
 *   best-fit    the smallest block big enough, the newest of equal ones:
 *               segregated fit's classes, each walked for the smallest.
 *               (placement_segregated.c)
 */
#ifndef HMM_PLACEMENT_H
#define HMM_PLACEMENT_H

#include "block.h"

#include <stdint.h>

typedef struct hmm_placement hmm_placement;

/*
 * An index of first and next fit's one list, that a replay keeps while it
 * runs (list_index.c, in the Python binding only): the list tells it of
 * every block filed and taken out, and asks it which block a walk would
 * stop at, and how many it would look at, instead of walking.  Same
 * choices, same counts, without a cache miss per free block passed.
 */
typedef struct hmm_list_index {
    void (*filed)(hmm_placement *p, hmm_block *b);   /* b went to the list's head */
    void (*unfiled)(hmm_placement *p, hmm_block *b); /* b left the list */
    hmm_block *(*first)(hmm_placement *p, size_t size);
    hmm_block *(*next)(hmm_placement *p, size_t size);
    unsigned (*check)(const hmm_placement *p); /* disagreements with the list */
} hmm_list_index;

/*
 * The operations of a policy.  Each gets the heap's placement state:
 *   name    what HMM_POLICY and Heap(policy=) call it: "first-fit"
 *   init    the state was zeroed (bounds kept): set up the rest; NULL if
 *           zeroed is ready
 *   insert  file the free block b (its header is final)
 *   remove  take b out; a neighbour whose links do not point back at b
 *           (overwritten) goes to on_corrupt instead
 *   find    a filed block of at least size bytes, left filed, or NULL; a
 *           block met whose header is not sealed right is returned as it
 *           is, for the heap to report
 *   each    visit every filed block until visit returns nonzero; links
 *           that cannot be followed end the walk (never reported)
 *   check   count broken links and misfiled blocks (never reported)
 */
typedef struct hmm_placement_ops {
    const char *name;
    void (*init)(hmm_placement *p);
    void (*insert)(hmm_placement *p, hmm_block *b);
    void (*remove)(hmm_placement *p, hmm_block *b);
    hmm_block *(*find)(hmm_placement *p, size_t size);
    void (*each)(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx);
    unsigned (*check)(const hmm_placement *p);
} hmm_placement_ops;

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

struct hmm_placement {
    const hmm_placement_ops *ops;  /* the policy */
    /* Where free blocks can be: a link revealing an address outside
     * [low, high) or misaligned was overwritten (see block.h, sealed links),
     * and is reported through on_corrupt (which need not return) instead of
     * followed.  Set by the heap; kept across placement_init. */
    uintptr_t low, high;
    void (*on_corrupt)(struct hmm_placement *p, hmm_block *b);
    /* first-fit, next-fit: one doubly linked list, LIFO */
    hmm_block *list;
    hmm_block *rover;          /* next-fit: where the next search starts (NULL: the head) */
    hmm_list_index *index;     /* a replay's index of the list, while it runs; else NULL */
    uint64_t list_hash;        /* a hash of the list's inserts and removes, in order: the
                                * same list history, the same hash (an index kept between
                                * two stretches of a replay checks that it still fits) */
    /* segregated, best-fit: one LIFO list per class; a bit per non-empty class, and a
     * bit per first level that has any */
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[HMM_FL_COUNT];
    hmm_block *classes[HMM_FL_COUNT][HMM_SL_COUNT];
    /* every policy: the free blocks its finds looked at (the stats'
     * examined_blocks: what a policy costs, in the replay's table) */
    uint64_t examined;
    /* ...and, when `seen` is set (a replay explaining a call: replay.h,
     * hmm_replay_watch), which: a payload address and a size each, two
     * words, up to seen_cap blocks; seen_n counts them all */
    uint64_t *seen;
    uint32_t seen_cap, seen_n;
};

/* A find looked at free block b. */
static inline void placement_looked(hmm_placement *p, hmm_block *b)
{
    p->examined++;
    if (__builtin_expect(p->seen != NULL, 0)) {
        if (p->seen_n < p->seen_cap) {
            p->seen[2 * p->seen_n] = (uintptr_t)block_payload(b);
            p->seen[2 * p->seen_n + 1] = block_size(b);
        }
        p->seen_n++;
    }
}

/* Start empty under `ops` (NULL: the default policy). */
void placement_init(hmm_placement *p, const hmm_placement_ops *ops);
/* Widen the bounds to take in [low, high) (a new segment). */
void placement_add_bounds(hmm_placement *p, uintptr_t low, uintptr_t high);
/* The heap's policy's operations (see hmm_placement_ops).  Free blocks
 * only: find never walks blocks in use. */
static inline void placement_insert(hmm_placement *p, hmm_block *b) { p->ops->insert(p, b); }
static inline void placement_remove(hmm_placement *p, hmm_block *b) { p->ops->remove(p, b); }
static inline hmm_block *placement_find(hmm_placement *p, size_t size) { return p->ops->find(p, size); }
void placement_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx);
/* For the checker; an ops pointer that is none of the policies counts too. */
unsigned placement_check(const hmm_placement *p);

/* The policy at `index` in HMM_PLACEMENTS (0: the default), NULL past the
 * end; the one named `name`, NULL if none. */
const hmm_placement_ops *placement_policy(int index);
const hmm_placement_ops *placement_policy_from_name(const char *name);
/* "segregated, first-fit, ..." into buf (cut to fit, NUL-terminated): for
 * messages that list the choices. */
void placement_policy_list(char *buf, size_t size);

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

#endif /* HMM_PLACEMENT_H */
