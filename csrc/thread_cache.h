/*
 * thread_cache.h - per-thread caches of small blocks (as glibc's tcache).
 *
 * Most programs free and allocate the same few small sizes over and over.
 * Each thread keeps a few freed small blocks per size class and serves the
 * next requests of that size from them, without the process lock and
 * without touching the heap's structures.  To the heap a cached block is
 * still in use (flag HMM_CACHED on top of IN_USE), so nothing else can take
 * it, and a second free of it is seen at once.
 *
 *   class:  0    1    2    3   ...  31
 *   size:   32   48   64   80  ...  528 bytes   (blocks; requests up to 520)
 *   bin:    a singly linked list through next_free, at most `limit` long
 *
 * A cache comes to life on its thread's first slow-path call, gives its
 * blocks back to the heap when the thread exits (a pthread key destructor),
 * and its counters are added to the process's stats.  After fork() the
 * child keeps only its own thread's cache.
 */
#ifndef HMM_THREAD_CACHE_H
#define HMM_THREAD_CACHE_H

#include "block.h"
#include "heap.h"

#include <stdint.h>

#define CACHE_CLASSES 32
#define CACHE_MAX_BLOCK (HMM_MIN_BLOCK + (CACHE_CLASSES - 1) * HMM_ALIGNMENT)
#define CACHE_MAX_REQUEST (CACHE_MAX_BLOCK - HMM_OVERHEAD)
#define CACHE_DEFAULT_LIMIT 8

enum cache_state { CACHE_NEW = 0, CACHE_STARTING, CACHE_ACTIVE, CACHE_GONE };

typedef struct thread_cache {
    hmm_block *bins[CACHE_CLASSES];
    uint32_t counts[CACHE_CLASSES];
    int state;
    /* calls served here (counted by their callers), and what is parked
     * here, for the stats */
    uint64_t allocs;
    uint64_t callocs;
    uint64_t frees;
    uint64_t cached_blocks;
    uint64_t cached_bytes;
    struct thread_cache *next; /* every live cache, under the process lock */
} thread_cache;

extern __thread thread_cache hmm_thread_cache __attribute__((tls_model("initial-exec")));

/* Set by the process heap, under its lock: the blocks of the break segment
 * lie in [cache_low, cache_high).  A pointer outside goes the slow way. */
extern uintptr_t cache_low, cache_high;
extern uint32_t cache_limit;

static inline unsigned cache_class(size_t block_size)
{
    return (unsigned)(block_size / HMM_ALIGNMENT) - HMM_MIN_BLOCK / HMM_ALIGNMENT;
}

/* A cached block for a request of `size` bytes, or NULL.  The caller
 * counts the call. */
static inline void *cache_take(size_t size)
{
    if (size > CACHE_MAX_REQUEST)
        return NULL;
    thread_cache *tc = &hmm_thread_cache;
    unsigned c = cache_class(block_size_for(size));
    hmm_block *b = tc->bins[c];
    if (!b) /* also when the cache is not active: its bins are empty */
        return NULL;
    tc->bins[c] = b->next_free;
    tc->counts[c]--;
    tc->cached_blocks--;
    tc->cached_bytes -= block_size(b);
    b->size_flags &= ~(size_t)HMM_CACHED;
    return block_payload(b);
}

/* Park the block at ptr in this thread's cache; 0 when it must go the slow
 * way (not small, not plainly in use, bin full, cache not active). */
static inline int cache_put(void *ptr)
{
    thread_cache *tc = &hmm_thread_cache;
    uintptr_t p = (uintptr_t)ptr;
    if (tc->state != CACHE_ACTIVE || (p & (HMM_ALIGNMENT - 1)) ||
        p < __atomic_load_n(&cache_low, __ATOMIC_RELAXED) ||
        p >= __atomic_load_n(&cache_high, __ATOMIC_RELAXED))
        return 0;
    hmm_block *b = block_of(ptr);
    size_t flags = b->size_flags;
    size_t size = flags & ~(size_t)HMM_FLAG_MASK;
    if ((flags & (HMM_IN_USE | HMM_MAPPED | HMM_CACHED)) != HMM_IN_USE || size > CACHE_MAX_BLOCK ||
        size < HMM_MIN_BLOCK)
        return 0;
    unsigned c = cache_class(size);
    if (tc->counts[c] >= cache_limit)
        return 0;
    b->size_flags = flags | HMM_CACHED;
    b->next_free = tc->bins[c];
    tc->bins[c] = b;
    tc->counts[c]++;
    tc->cached_blocks++;
    tc->cached_bytes += size;
    tc->frees++;
    return 1;
}

/* Slow-path hooks, called with the process lock NOT held. */
void cache_start_if_new(void);

/* Called with the process lock held. */
void cache_note_heap_bounds(const hmm_heap *h);
void cache_add_stats(struct hmm_stats *out);
void cache_after_fork_child(void);
void cache_setup(uint32_t limit); /* from the library's constructor */

#endif /* HMM_THREAD_CACHE_H */
