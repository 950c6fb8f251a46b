/*
 * depot.h - batches of small blocks between the threads' caches and the
 * heap; see depot.c.
 */
#ifndef HMM_DEPOT_H
#define HMM_DEPOT_H

#include "block.h"
#include "heap.h"

#include <stdint.h>

#define DEPOT_BATCH 16        /* blocks in a batch: half a full bin */
#define DEPOT_MAX_BATCHES 128 /* batches a class keeps; more go to the heap */

/* A batch of DEPOT_BATCH parked blocks of cache class c, linked as in the
 * bins with the last link NULL, or NULL when the class has none. */
hmm_block *depot_take(unsigned c);
/* Keep such a batch: 1, or 0 when the class is full (the caller frees its
 * blocks into the heap). */
int depot_give(unsigned c, hmm_block *batch);
/* Has any batch ever been given?  Never, in a program of one thread: its
 * cache misses then skip the depot altogether (a test inlined in them). */
extern __attribute__((visibility("hidden"))) int depot_given;
static inline int depot_ever_given(void)
{
    return __atomic_load_n(&depot_given, __ATOMIC_RELAXED);
}

/* With the process lock held: */
/* every batch back into the heap (to trim, drain or before growing the
 * heap); returns how many blocks went back. */
size_t depot_drain(hmm_heap *h);
/* is b, marked as parked, in a batch?  (A walk that never faults.) */
int depot_holds(hmm_heap *h, const hmm_block *b);
/* the blocks the depot holds, by class, for the stats. */
uint64_t depot_blocks(unsigned c);

/* fork: every class's lock held across it (fork.c). */
void depot_fork_prepare(void);
void depot_fork_parent(void);
void depot_fork_child(void);

#endif /* HMM_DEPOT_H */
