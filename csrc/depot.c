/*
 * depot.c - batches of small blocks between the threads' caches and the
 * heap, shared by every thread, never merged.
 *
 * A thread whose bin is full gives half of it away, and one whose bin is
 * empty takes some.  Without the depot both take the process lock and go
 * through the heap: every block given away is merged with its neighbours
 * and filed, and every block taken is found and carved again, under the
 * one lock all threads share.  Threads that hand blocks to each other (a
 * server whose workers free what others allocated, a producer and its
 * consumers) pay that on every 16th call.  The depot keeps the blocks as
 * they are, in batches of one size class, as tcmalloc's transfer cache and
 * glibc's fast bins do:
 *
 *   class c:  batches[0]  batches[1]  ...  batches[count - 1]
 *                 |           |
 *               block       block      a batch: DEPOT_BATCH blocks linked
 *                 |           |        as in the bins (sealed links), the
 *               block       block      last link NULL
 *                ...         ...
 *
 * A full bin gives a batch (depot_give), while the process has more than
 * one thread with a cache (thread_cache.c says why), and an empty one
 * takes a batch (depot_take), each under its class's own lock, held for a
 * pointer move or two: threads meet only when they move blocks of the
 * same size at the same instant.  Blocks in the depot stay parked: in use to the heap, and
 * marked (thread_cache.h), so that a second free of one is still named a
 * double free (depot_holds confirms it, as cache_holds does for the bins).
 *
 * A class keeps at most DEPOT_MAX_BATCHES; past that, a full bin gives its
 * blocks to the heap as before.  When the heap wants its memory back (the
 * drain when half of it was freed, malloc_trim), and before it grows (the
 * blocks kept here may be what it needs: aligned blocks, other sizes, once
 * merged), every batch goes back to it (depot_drain), where the blocks
 * merge and the top can be trimmed.
 *
 * Lock order: the process lock, then a class lock (depot_drain and
 * depot_holds run under the process lock); nothing takes the process lock
 * while it holds a class lock.  fork holds them all, in that order.
 */
#include "depot.h"

#include "thread_cache.h"

#include <sched.h>

typedef struct depot_class {
    int lock;
    unsigned count;
    hmm_block *batches[DEPOT_MAX_BATCHES];
} depot_class;

static depot_class depot[CACHE_CLASSES];
int depot_given;

static void class_lock(depot_class *d)
{
    /* Held for a few instructions: spin, and let the holder run if it was
     * preempted (two cores, more threads). */
    for (unsigned spins = 0; __atomic_exchange_n(&d->lock, 1, __ATOMIC_ACQUIRE); spins++) {
        while (__atomic_load_n(&d->lock, __ATOMIC_RELAXED)) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            if (++spins % 64 == 0)
                sched_yield();
        }
    }
}

static void class_unlock(depot_class *d)
{
    __atomic_store_n(&d->lock, 0, __ATOMIC_RELEASE);
}

hmm_block *depot_take(unsigned c)
{
    depot_class *d = &depot[c];
    if (!__atomic_load_n(&d->count, __ATOMIC_RELAXED))
        return NULL; /* most misses of an idle class: no lock */
    class_lock(d);
    hmm_block *batch = d->count ? d->batches[--d->count] : NULL;
    class_unlock(d);
    return batch;
}

int depot_give(unsigned c, hmm_block *batch)
{
    depot_class *d = &depot[c];
    if (__atomic_load_n(&d->count, __ATOMIC_RELAXED) >= DEPOT_MAX_BATCHES)
        return 0;
    if (!__atomic_load_n(&depot_given, __ATOMIC_RELAXED))
        __atomic_store_n(&depot_given, 1, __ATOMIC_RELAXED);
    class_lock(d);
    int kept = d->count < DEPOT_MAX_BATCHES;
    if (kept)
        d->batches[d->count++] = batch;
    class_unlock(d);
    return kept;
}

size_t depot_drain(hmm_heap *h)
{
    size_t blocks = 0;
    for (unsigned c = 0; c < CACHE_CLASSES; c++) {
        depot_class *d = &depot[c];
        while (__atomic_load_n(&d->count, __ATOMIC_RELAXED)) {
            class_lock(d);
            hmm_block *batch = d->count ? d->batches[--d->count] : NULL;
            class_unlock(d);
            if (batch) {
                cache_free_parked(h, batch, DEPOT_BATCH);
                blocks += DEPOT_BATCH;
            }
        }
    }
    return blocks;
}

int depot_holds(hmm_heap *h, const hmm_block *b)
{
    unsigned c = cache_class(block_size(b));
    if (c >= CACHE_CLASSES)
        return 0;
    depot_class *d = &depot[c];
    class_lock(d);
    int found = 0;
    for (unsigned i = 0; i < d->count && !found; i++)
        found = cache_list_holds(h, d->batches[i], DEPOT_BATCH, b);
    class_unlock(d);
    return found;
}

uint64_t depot_blocks(unsigned c)
{
    return (uint64_t)__atomic_load_n(&depot[c].count, __ATOMIC_RELAXED) * DEPOT_BATCH;
}

void depot_fork_prepare(void)
{
    for (unsigned c = 0; c < CACHE_CLASSES; c++)
        class_lock(&depot[c]);
}

void depot_fork_parent(void)
{
    for (unsigned c = 0; c < CACHE_CLASSES; c++)
        class_unlock(&depot[c]);
}

void depot_fork_child(void)
{
    for (unsigned c = 0; c < CACHE_CLASSES; c++)
        depot[c].lock = 0; /* the child's only thread holds them: none other to wake */
}
