/* thread_cache.c - the slow parts of the per-thread caches; see the .h. */
#include "thread_cache.h"

#include "arena.h"
#include "calls.h"
#include "depot.h"
#include "process_heap.h"
#include "stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <string.h>

__thread thread_cache hmm_thread_cache __attribute__((tls_model("initial-exec")));
uint64_t cache_key;
static uint32_t cache_limit; /* HMM_TCACHE; set by cache_setup before any cache is active */

static pthread_key_t exit_key;
static int exit_key_ready;

/* Under the process lock: the live caches, and what exited threads'
 * caches served. */
static thread_cache *live_caches;
static unsigned live_count; /* how many: written under the lock, read without */
static struct {
    uint64_t allocs, callocs, memaligns, frees, reallocs;
} retired;

static uint64_t parked(const thread_cache *tc)
{
    uint64_t n = 0;
    for (unsigned c = 0; c < CACHE_CLASSES; c++)
        n += tc->counts[c];
    return n;
}

/* Every block taken from the cache was parked by a free first. */
static uint64_t mallocs_served(const thread_cache *tc)
{
    return tc->frees + tc->refilled - parked(tc) - tc->callocs - tc->memaligns;
}

static void retire_counters(thread_cache *tc)
{
    retired.allocs += mallocs_served(tc);
    retired.callocs += tc->callocs;
    retired.memaligns += tc->memaligns;
    retired.frees += tc->frees;
    retired.reallocs += tc->reallocs;
}

static void flush_bin(hmm_heap *h, thread_cache *tc, unsigned c, uint32_t keep);

/* The thread is exiting: its blocks go back to the heap, and so do the
 * frees its signal handlers deferred.  It holds the lock meanwhile, so it
 * is marked as inside the allocator: a handler's call is served elsewhere
 * (calls.h) instead of waiting for that lock. */
static void cache_thread_exit(void *arg)
{
    thread_cache *tc = arg;
    call_mark(CALL_THREAD_EXIT);
    hmm_heap *h = process_heap_lock();
    if (!h) { /* given up after a misuse: the blocks stay where they are */
        tc->state = CACHE_GONE;
        tc->limit = 0;
        call_leave();
        return;
    }
    heap_serving(h, CALL_FREE);
    tc->limit = 0; /* the blocks below are freed here: no flush_mine meanwhile */
    for (unsigned c = 0; c < CACHE_CLASSES; c++)
        flush_bin(h, tc, c, 0);
    for (unsigned i = 0; i < tc->calls.deferred && i < CALL_DEFERRED_MAX; i++) {
        void *p = tc->calls.deferred_frees[i];
        hmm_heap *owner = arena_holds(p) ? heap_lock_for_pointer(p) : h; /* after the process heap's lock */
        if (owner) {
            heap_serving(owner, CALL_FREE);
            hmm_heap_free(owner, p); /* checked as any free */
            if (owner != h)
                heap_unlock(owner);
        }
    }
    tc->calls.deferred = 0;
    retire_counters(tc);
    for (thread_cache **at = &live_caches; *at; at = &(*at)->next)
        if (*at == tc) {
            *at = tc->next;
            __atomic_store_n(&live_count, live_count - 1, __ATOMIC_RELAXED);
            break;
        }
    tc->next = NULL;
    tc->frees = tc->callocs = tc->memaligns = tc->reallocs = tc->refilled = 0;
    tc->state = CACHE_GONE; /* later calls on this thread go the slow way */
    process_heap_unlock();
    arena_thread_exit();
    call_leave();
}

void cache_corrupt(hmm_block *b)
{
    hmm_heap *h = process_heap_lock();
    if (h) {
        heap_serving(h, CALL_MALLOC);
        misuse_report(h, HMM_FAULT_CORRUPT_FREE_LIST, block_payload(b), NULL, 0);
    }
    abort(); /* the process heap's handler aborts already */
}

/*
 * Under the process lock: is b parked in a bin of a live cache?  The bins'
 * owners push and pop without the lock, so this walk may meet any link at
 * all: each is followed only when it is aligned and the block it names
 * lies whole inside a heap segment (which the lock keeps mapped), and a
 * walk ends after as many blocks as a bin can hold.  It never faults and
 * never reports; a race with the owner can only miss a block that is being
 * taken out or put in that instant.
 */
int cache_list_holds(hmm_heap *h, hmm_block *first, uint32_t most, const hmm_block *b)
{
    hmm_block *x = first;
    for (uint32_t left = most; x && left; left--) {
        if (x == b)
            return 1;
        hmm_segment *s = link_misaligned(x) ? NULL : heap_segment_of(h, x);
        if (!s || (char *)(x + 1) > segment_end(s))
            break;
        x = link_seal(&x->next_free, *(hmm_block *volatile *)&x->next_free);
    }
    return 0;
}

static int cache_holds(hmm_heap *h, const hmm_block *b)
{
    unsigned c = cache_class(block_size(b));
    if (c >= CACHE_CLASSES)
        return 0;
    for (thread_cache *tc = live_caches; tc; tc = tc->next)
        if (cache_list_holds(h, *(hmm_block *volatile *)&tc->bins[c], tc->limit, b))
            return 1;
    return depot_holds(h, b);
}

/* cache_next for the walks made with the lock held: a broken link is
 * reported on the heap held, never by taking the lock again.  With the
 * lock held the segments cannot change, so the link can be checked to lead
 * into the heap as well: an overwritten one reveals a random address,
 * aligned one time in sixteen, but almost never inside a segment. */
/* Most parked blocks lie in the newest segment: a look at its bounds, as
 * they are now, before the segment map. */
static int in_newest_segment(const hmm_heap *h, const hmm_block *b)
{
    const hmm_segment *s = h->newest;
    return s && b >= segment_first_block(s) && b < segment_end_marker(s);
}

static hmm_block *cache_next_locked(hmm_heap *h, hmm_block *b)
{
    hmm_block *next = link_seal(&b->next_free, b->next_free);
    if (__builtin_expect(link_misaligned(next) || (next && !in_newest_segment(h, next) && !heap_segment_of(h, next)), 0)) {
        misuse_report(h, HMM_FAULT_CORRUPT_FREE_LIST, block_payload(b), NULL, 0);
        abort(); /* the process heap's handler aborts already */
    }
    return next;
}

void cache_free_parked(hmm_heap *h, hmm_block *first, uint32_t n)
{
    for (hmm_block *b = first, *next; b && n; b = next, n--) {
        next = n > 1 ? cache_next_locked(h, b) : NULL;
        b->prev_free = NULL;
        heap_free_block(h, b);
    }
}

/* Give bin c of tc back to the heap until `keep` blocks are left. */
static void flush_bin(hmm_heap *h, thread_cache *tc, unsigned c, uint32_t keep)
{
    while (tc->counts[c] > keep) {
        hmm_block *out = tc->bins[c];
        tc->bins[c] = cache_next_locked(h, out);
        tc->counts[c]--;
        tc->refilled--; /* what leaves this way was parked but never served */
        out->prev_free = NULL;
        heap_free_block(h, out);
    }
}

/*
 * The heap's stop_parking (heap.h): half the heap was freed.  Every block
 * parked in the calling thread's cache goes back to the heap, and the cache
 * parks nothing more while the heap is draining, that is until something
 * is allocated: a program freeing everything then frees its last blocks
 * into the heap, where they merge into the top and the break comes down,
 * as under glibc, whose tcache is full by then.  The cache comes back when
 * the heap allocates for this thread (resume_parking) or, if another thread
 * ended the drain, at this one's next slow malloc or free.
 */
static void flush_mine(hmm_heap *h)
{
    thread_cache *tc = &hmm_thread_cache;
    if (!tc->limit)
        return; /* not active, exiting, or drained already */
    tc->limit = 0; /* first: a free below that brings the heap back here returns at once */
    for (unsigned c = 0; c < CACHE_CLASSES; c++)
        flush_bin(h, tc, c, 0);
    depot_drain(h);
}

/* A thread whose cache flush_mine turned off (a limit of 0 sends every
 * free the slow way): turn it back on once the heap allocates again. */
static void resume_after_drain(hmm_heap *h, thread_cache *tc)
{
    if (!tc->limit && tc->state == CACHE_ACTIVE && !h->draining)
        tc->limit = cache_limit;
}

/* The heap's resume_parking: it allocated for this thread, draining no more. */
static void resume_mine(hmm_heap *h)
{
    resume_after_drain(h, &hmm_thread_cache);
}

void cache_setup(uint32_t limit)
{
    /* The secret: from the 16 random bytes the kernel gives every process;
     * never 0, which marks nothing. */
    const uint64_t *random = (const uint64_t *)getauxval(AT_RANDOM);
    uint64_t seed = random ? random[0] * 0x9e3779b97f4a7c15ull ^ random[1] : (uint64_t)(uintptr_t)&cache_key;
    cache_key = seed | 1;
    hmm_heap *h = process_heap_lock();
    if (!h)
        return;
    h->cache_key = cache_key;
    h->cache_holds = cache_holds;
    h->stop_parking = flush_mine;
    h->reclaim = depot_drain;
    h->resume_parking = resume_mine;
    process_heap_on_give_up(cache_abandon_mine);
    process_heap_unlock();
    cache_limit = limit;
    if (limit && pthread_key_create(&exit_key, cache_thread_exit) == 0)
        exit_key_ready = 1;
}

void cache_start(void)
{
    thread_cache *tc = &hmm_thread_cache;
    if (tc->state != CACHE_NEW || !exit_key_ready)
        return;
    /* pthread_setspecific may allocate (for high key numbers): that call
     * comes back here, sees CACHE_STARTING and goes the slow way.  It is a
     * call from inside malloc that is no re-entry. */
    tc->state = CACHE_STARTING;
    uint8_t in_call = hmm_thread_cache.calls.in_call;
    hmm_thread_cache.calls.in_call = 0;
    int failed = pthread_setspecific(exit_key, tc) != 0;
    hmm_thread_cache.calls.in_call = in_call;
    if (failed) {
        tc->state = CACHE_GONE;
        return;
    }
    if (!process_heap_lock()) {
        tc->state = CACHE_GONE;
        return;
    }
    tc->next = live_caches;
    live_caches = tc;
    __atomic_store_n(&live_count, live_count + 1, __ATOMIC_RELAXED);
    tc->state = CACHE_ACTIVE;
    tc->limit = cache_limit;
    process_heap_unlock();
}

void cache_abandon_mine(const char *message)
{
    (void)message;
    thread_cache *tc = &hmm_thread_cache;
    tc->limit = 0;
    for (unsigned c = 0; c < CACHE_CLASSES; c++) {
        tc->bins[c] = NULL;
        tc->counts[c] = 0;
    }
    tc->calls.in_call = CALL_NONE; /* its SIGABRT handler may allocate: from the reserve */
}

/* Nothing is carved ahead for the cache: blocks carved together for one
 * size lie apart from the blocks of other sizes the program allocates
 * next, and the objects a program builds together (a dict, its keys, its
 * values) end up scattered, which a garbage collector walking them pays for
 * (python3 round-tripping dicts through json ran 1.6 times slower).  What a
 * thread gave away comes back through the depot instead. */
void cache_after_slow_malloc(hmm_heap *h)
{
    resume_after_drain(h, &hmm_thread_cache);
}

int cache_refill_from_depot(size_t size)
{
    thread_cache *tc = &hmm_thread_cache;
    if (!tc->limit || size > CACHE_MAX_REQUEST)
        return 0;
    unsigned c = cache_class(block_size_for(size));
    if (tc->bins[c] || tc->limit < DEPOT_BATCH)
        return 0;
    hmm_block *batch = depot_take(c);
    if (!batch)
        return 0;
    tc->bins[c] = batch;
    tc->counts[c] = DEPOT_BATCH;
    tc->refilled += DEPOT_BATCH;
    return 1;
}

/* Only while another thread has a cache: the depot is for handing blocks
 * from thread to thread.  A lone thread would only take its own batches
 * back, and what the depot keeps unmerged (up to 2,048 blocks a class) the
 * heap cannot use for other sizes: python3 building and dropping dicts ran
 * 1.4 times glibc's time with it and about glibc's without.  Its full bins
 * give half to the heap instead, 16 blocks under one lock. */
int cache_give_to_depot(void *ptr)
{
    thread_cache *tc = &hmm_thread_cache;
    unsigned c = cache_class(block_size(block_of(ptr)));
    if (tc->counts[c] < DEPOT_BATCH + 1 || tc->limit < DEPOT_BATCH ||
        __atomic_load_n(&live_count, __ATOMIC_RELAXED) < 2)
        return 0;
    /* The first DEPOT_BATCH blocks of the bin, the last link cut. */
    hmm_block *first = tc->bins[c], *last = first;
    for (unsigned i = 1; i < DEPOT_BATCH; i++)
        last = cache_next(last);
    hmm_block *rest = cache_next(last);
    cache_link(last, NULL);
    if (!depot_give(c, first)) {
        cache_link(last, rest); /* the class is full: the heap takes them, as before */
        return 0;
    }
    tc->bins[c] = rest;
    tc->counts[c] -= DEPOT_BATCH;
    tc->refilled -= DEPOT_BATCH; /* parked here, served elsewhere */
    return cache_put(ptr) == CACHE_PARKED;
}

void cache_flush_half(hmm_heap *h, void *ptr)
{
    thread_cache *tc = &hmm_thread_cache;
    resume_after_drain(h, tc);
    flush_bin(h, tc, cache_class(block_size(block_of(ptr))), tc->limit / 2);
}

void cache_stop_all(hmm_heap *h)
{
    cache_limit = 0;
    for (thread_cache *tc = live_caches; tc; tc = tc->next)
        __atomic_store_n(&tc->limit, 0, __ATOMIC_RELAXED);
    for (unsigned c = 0; c < CACHE_CLASSES; c++)
        flush_bin(h, &hmm_thread_cache, c, 0);
    depot_drain(h);
}

void cache_add_stats(struct hmm_stats *out)
{
    out->alloc_calls += retired.allocs;
    out->calloc_calls += retired.callocs;
    out->memalign_calls += retired.memaligns;
    out->free_calls += retired.frees;
    out->realloc_calls += retired.reallocs;
    for (const thread_cache *tc = live_caches; tc; tc = tc->next) {
        /* Other threads update these without the lock: the sums are a
         * snapshot, exact once the process is quiet. */
        out->alloc_calls += mallocs_served(tc);
        out->calloc_calls += tc->callocs;
        out->memalign_calls += tc->memaligns;
        out->free_calls += tc->frees;
        out->realloc_calls += tc->reallocs;
        for (unsigned c = 0; c < CACHE_CLASSES; c++) {
            /* a bin holds blocks of one size only */
            uint64_t size = HMM_MIN_BLOCK + (uint64_t)c * HMM_ALIGNMENT;
            out->blocks_in_use -= tc->counts[c];
            out->bytes_in_use -= tc->counts[c] * size;
            out->cached_blocks += tc->counts[c];
            out->cached_bytes += tc->counts[c] * size;
        }
    }
    for (unsigned c = 0; c < CACHE_CLASSES; c++) { /* and the depot's batches */
        uint64_t size = HMM_MIN_BLOCK + (uint64_t)c * HMM_ALIGNMENT, n = depot_blocks(c);
        out->blocks_in_use -= n;
        out->bytes_in_use -= n * size;
        out->cached_blocks += n;
        out->cached_bytes += n * size;
    }
}

void cache_after_fork_child(void)
{
    /* Only the forking thread lives on.  The others' caches are copies of
     * memory nobody will use again: keep their counts, drop them. */
    thread_cache *mine = &hmm_thread_cache;
    for (thread_cache *tc = live_caches; tc; tc = tc->next)
        if (tc != mine)
            retire_counters(tc);
    live_caches = NULL;
    live_count = 0;
    if (mine->state == CACHE_ACTIVE) {
        mine->next = NULL;
        live_caches = mine;
        live_count = 1;
    }
}
