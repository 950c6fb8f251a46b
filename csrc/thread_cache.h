/*
 * thread_cache.h - per-thread caches of small blocks (as glibc's tcache).
 *
 * Most programs free and allocate the same few small sizes over and over.
 * Each thread keeps a few freed small blocks per size class and serves the
 * next requests of that size from them, without the process lock and
 * without touching the heap's structures.  To the heap a cached block is
 * still in use, so nothing else can take it.  The cache never writes a
 * block's header: under the lock another thread may be updating its
 * PREV_IN_USE bit.  It marks a parked block with a random secret (XORed
 * with the block's address) in the block's second payload word instead, so
 * that a second free is seen; the slow way confirms it by finding the block
 * in a bin (cache_holds), since a program can copy a mark.
 *
 *   class:  0    1    2    3   ...  63
 *   size:   32   48   64   80  ...  1040 bytes   (blocks; requests up to 1032)
 *
 * Up to 1 KiB, as glibc's tcache: the sizes threads hand to each other
 * (a server's requests, parsed objects) are mostly below that, and a size
 * the caches do not cover takes the process lock on every call.
 *   bin:    a singly linked list through next_free, at most `limit` long
 *
 * The lock is taken only on a miss, and not always then: a malloc that
 * found its bin empty takes a batch from the depot (depot.h) if there is
 * one, and a free that found its bin full gives half the bin there, so that
 * threads handing blocks to each other do not take the lock on every call.
 *
 * A cache comes to life on its thread's first slow-path call, gives its
 * blocks back to the heap when the thread exits (a pthread key destructor),
 * and its counters are added to the process's stats.  After fork() the
 * child keeps only its own thread's cache.
 */
#ifndef HMM_THREAD_CACHE_H
#define HMM_THREAD_CACHE_H

#include "block.h"
#include "calls.h"
#include "heap.h"
#include "process_heap.h"

#include <stdint.h>

#define CACHE_CLASSES 64
#define CACHE_MAX_BLOCK (HMM_MIN_BLOCK + (CACHE_CLASSES - 1) * HMM_ALIGNMENT)
#define CACHE_MAX_REQUEST (CACHE_MAX_BLOCK - HMM_OVERHEAD)

enum cache_state { CACHE_NEW = 0, CACHE_STARTING, CACHE_ACTIVE, CACHE_GONE };

typedef struct thread_cache {
    hmm_block *bins[CACHE_CLASSES];
    uint32_t counts[CACHE_CLASSES];
    uint32_t limit;            /* blocks per bin; 0 until the cache is active */
    int state;
    /* calls served here, for the stats: frees parked, callocs, aligned
     * allocations and reallocs served; the mallocs served are then frees +
     * refilled - callocs - memaligns -
     * what is parked now */
    uint64_t frees;
    uint64_t callocs;
    uint64_t memaligns;
    uint64_t reallocs;
    uint64_t refilled;        /* blocks moved in (depot batches) minus out (flushes, batches given) */
    call_state calls;         /* the call this thread is inside (calls.h) */
    struct thread_cache *next; /* every live cache, under the process lock */
} thread_cache;

extern __thread thread_cache hmm_thread_cache __attribute__((tls_model("initial-exec")));

/* Is the thread inside a call already, or are frees deferred (calls.h)?
 * Then the way in is call_enter_slow(). */
static inline int call_busy(void)
{
    return __builtin_expect(hmm_thread_cache.calls.busy != 0, 0);
}

static inline void call_mark(enum hmm_call call)
{
    hmm_thread_cache.calls.in_call = (uint8_t)call;
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* marked before anything changes */
}

/* Mark this thread as inside `call`: 1, or 0 for a call from a signal
 * handler that interrupted the thread inside the allocator (calls.h). */
static inline int call_enter(enum hmm_call call)
{
    if (call_busy())
        return call_enter_slow(call);
    call_mark(call);
    return 1;
}

static inline void call_leave(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* everything done before unmarked */
    hmm_thread_cache.calls.in_call = CALL_NONE;
}

/* Is p a 16-aligned address in the process heap's newest segments
 * (process_heap.h), whose blocks the caches park?  A pointer outside both
 * goes the slow way. */
static inline int cache_covers(uintptr_t p)
{
    /* Rotated right by 4, an offset is its count of 16-byte units when it
     * is a multiple of 16, and a huge number when not: one test for "in
     * the segment, and aligned", NULL failing it too. */
    uintptr_t a = p - heap_low;
    if (__builtin_expect(((a >> 4) | (a << (sizeof a * 8 - 4))) < heap_units, 1))
        return 1;
    uintptr_t b = p - heap_low2; /* a heap whose break got stuck: seldom */
    return ((b >> 4) | (b << (sizeof b * 8 - 4))) < heap_units2;
}
extern __attribute__((visibility("hidden"))) uint64_t cache_key; /* the secret marking parked blocks */

/* A parked block's link to the next one in its bin is sealed (block.h), as
 * the heap's free-list links are. */
static inline void cache_link(hmm_block *b, hmm_block *next)
{
    b->next_free = link_seal(&b->next_free, next);
}

/* Report a parked block whose link was overwritten, and abort. */
void cache_corrupt(hmm_block *b) __attribute__((noreturn, cold));

/* The block after b in its bin, checked: the link must reveal an aligned
 * address.  A write after free over it reveals a random one (15 times in
 * 16 misaligned), never one of the writer's choosing.  (A write over the
 * mark alone harms nothing: the block is handed out as it is.) */
static inline hmm_block *cache_next(hmm_block *b)
{
    hmm_block *next = link_seal(&b->next_free, b->next_free);
    if (__builtin_expect(link_misaligned(next), 0))
        cache_corrupt(b);
    return next;
}

static inline unsigned cache_class(size_t block_size)
{
    return (unsigned)(block_size / HMM_ALIGNMENT) - HMM_MIN_BLOCK / HMM_ALIGNMENT;
}

/* cache_class(block_size_for(size)), or CACHE_CLASSES and above for a
 * request too big for the caches, in few steps: (size + 8) rounded up to
 * 16, as a class.  Requests 0..8 wrap around to huge numbers, and are put
 * in class 0 by the caller's slower branch. */
static inline size_t cache_class_of_request(size_t size)
{
    return ((size + HMM_OVERHEAD + HMM_ALIGNMENT - 1) >> 4) - HMM_MIN_BLOCK / HMM_ALIGNMENT;
}

/* A cached block for a request of `size` bytes, or NULL. */
static inline void *cache_take(size_t size)
{
    size_t c = cache_class_of_request(size);
    if (__builtin_expect(c >= CACHE_CLASSES, 0)) {
        if (size > HMM_MIN_BLOCK - HMM_OVERHEAD)
            return NULL;
        c = 0;
    }
    thread_cache *tc = &hmm_thread_cache;
    hmm_block *b = tc->bins[c];
    if (!b) /* also when the cache is not active: its bins are empty */
        return NULL;
    tc->bins[c] = cache_next(b);
    tc->counts[c]--;
    b->prev_free = NULL; /* no longer marked as parked */
    return block_payload(b);
}

/* Park the block at ptr in this thread's cache: CACHE_PARKED, or
 * CACHE_BIN_FULL (a block of ours, its bin full or the cache not active),
 * or CACHE_NOT_OURS (not small, not plainly in use, outside the newest
 * segment): both of the latter go the slow way. */
enum { CACHE_NOT_OURS = 0, CACHE_PARKED = 1, CACHE_BIN_FULL = 2 };
static inline int cache_put(void *ptr)
{
    thread_cache *tc = &hmm_thread_cache;
    uintptr_t p = (uintptr_t)ptr;
    /* Plain loads: these words change only under the lock, and a stale
     * pair can only send a pointer the slow (checking) way. */
    if (!cache_covers(p)) /* also NULL and misaligned pointers */
        return CACHE_NOT_OURS;
    hmm_block *b = block_of(ptr);
    if (block_marked_parked(b, cache_key))
        return CACHE_NOT_OURS; /* parked already, maybe: the slow way looks in the bins */
    size_t flags = b->size_flags;
    /* One test for "sealed right, in use, not mapped, not guarded, and
     * small", which also yields the class.  XORing in the seal leaves the
     * top bits zero only for a header sealed right.  With PREV_IN_USE
     * masked off, subtracting (32 | IN_USE) leaves the low four bits zero
     * only for exactly IN_USE, and rotating them to the top turns any
     * other flag into a huge number, as a broken seal is already; what
     * remains is (size - 32) / 16. */
    flags ^= header_check(b, flags);
    size_t key = (flags & ~(size_t)HMM_PREV_IN_USE) - (HMM_MIN_BLOCK | HMM_IN_USE);
    size_t c = (key >> 4) | (key << (sizeof key * 8 - 4));
    if (c >= CACHE_CLASSES)
        return CACHE_NOT_OURS;
    /* The next header, which an overflow out of b reaches first: one NUL
     * byte past the usable size is its low byte, and clears its
     * PREV_IN_USE bit, which must be set while b is in use (only b's owner
     * changes it, and every rewrite of that header by other threads, under
     * the lock, keeps it).  A broken bit sends the free the slow way, which
     * reports the header; an overflow that leaves the bit set breaks the
     * header's seal, which the first use of that block checks (its free,
     * a merge, placement taking it).  Testing the bit costs four
     * instructions where the whole seal would cost ten. */
    hmm_block *next = (hmm_block *)((char *)b + key + HMM_MIN_BLOCK); /* key: size - 32 now */
    if (__builtin_expect(!(next->size_flags & HMM_PREV_IN_USE), 0))
        return CACHE_NOT_OURS;
    if (tc->counts[c] >= tc->limit) /* also when the cache is not active (limit 0) */
        return CACHE_BIN_FULL;
    b->prev_free = (hmm_block *)parked_mark(cache_key, b);
    cache_link(b, tc->bins[c]);
    tc->bins[c] = b;
    tc->counts[c]++;
    tc->frees++;
    return CACHE_PARKED;
}

/* Can realloc(ptr, size) keep the block as it is?  When ptr is a block of
 * the newest segment, in use, that already holds `size` bytes and would not
 * be split for it, the answer needs no lock (counted as a realloc). */
static inline int cache_realloc_in_place(void *ptr, size_t size)
{
    thread_cache *tc = &hmm_thread_cache;
    uintptr_t p = (uintptr_t)ptr;
    if (!tc->limit || !cache_covers(p) ||
        size - 1 > HMM_MAX_REQUEST)
        return 0;
    hmm_block *b = block_of(ptr);
    size_t flags = b->size_flags;
    size_t have = flags & HMM_SIZE_MASK;
    size_t want = block_size_for(size);
    if (header_fault(b, flags) || (flags & (HMM_IN_USE | HMM_MAPPED | HMM_GUARDED)) != HMM_IN_USE || want > have ||
        have - want >= HMM_MIN_BLOCK || block_marked_parked(b, cache_key))
        return 0;
    tc->reallocs++;
    return 1;
}

/* Slow-path hooks, called with the process lock NOT held. */
void cache_start(void);
/* A thread's cache comes to life on its first slow call. */
static inline void cache_start_if_new(void)
{
    if (__builtin_expect(hmm_thread_cache.state == CACHE_NEW, 0))
        cache_start();
}

/* Called with the process lock held. */
/* After a slow malloc: a cache the heap's drain turned off comes back. */
void cache_after_slow_malloc(hmm_heap *h);
/* Before the slow free of a block that cache_put found CACHE_BIN_FULL:
 * give half its bin back to the heap, so that the next frees need no lock. */
void cache_flush_half(hmm_heap *h, void *ptr);
/* Without the lock, before the slow paths take it (depot.h): an empty bin
 * for a request of `size` bytes takes a batch from the depot (1 if it did),
 * and a full bin gives one, then parks ptr (1 if it did). */
int cache_refill_from_depot(size_t size);
int cache_give_to_depot(void *ptr);
/* With the lock held: free the first n blocks of a list of parked blocks
 * into the heap; is b on such a list (a walk of at most `most` links that
 * never faults: each is checked to lie in the heap before it is read)? */
void cache_free_parked(hmm_heap *h, hmm_block *first, uint32_t n);
int cache_list_holds(hmm_heap *h, hmm_block *first, uint32_t most, const hmm_block *b);
void cache_add_stats(struct hmm_stats *out);
void cache_after_fork_child(void);
void cache_setup(uint32_t limit); /* from the library's constructor */
/* The heap was given up while this thread may have been half-way through
 * a change of its cache (a misuse found there, a signal handler): forget
 * the parked blocks and park no more, so that the calls this thread still
 * makes go the slow way, to the reserve. */
void cache_abandon_mine(const char *message);
/* Under the lock: park no more blocks in any thread, and give this thread's
 * parked ones back (mallopt(M_PERTURB) wants blocks to pass the heap, to be
 * filled).  Other threads' parked blocks cannot be taken from them: they
 * are handed out unfilled, once. */
void cache_stop_all(hmm_heap *h);

#endif /* HMM_THREAD_CACHE_H */
