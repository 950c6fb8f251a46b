/*
 * heap.c - the allocator core: allocate, free, reallocate over a heap.
 *
 * Everything here works on a heap object and asks the heap's source for
 * memory, so the same code runs on the process break and on a simulated
 * one.  The block layout is in block.h, the choice of free block in
 * placement_*.c, the checks of a caller's pointer in validate.c.  Nothing
 * here takes a lock or aborts: the process heap (process_heap.c) adds both.
 *
 * The life of a block:
 *   allocate: placement finds a free block (or the heap grows), the block is
 *             marked in use and the tail it does not need is split off.
 *   free:     the block is merged with a free neighbour on either side
 *             (boundary tags make that O(1)) and handed back to placement;
 *             if it is now a large free block at the top of the heap, the
 *             break is moved back down.
 * Requests from mmap_threshold up skip all that: each gets a mapping of its
 * own (large.c).
 */
#include "heap.h"

#include "options.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

uintptr_t hmm_secret;

void heap_seed_secret(uint64_t seed)
{
    /* Heaps made at once on two threads (replays run side by side) must
     * not each set a secret of their own: the first one set stays. */
    uintptr_t unset = 0;
    uintptr_t secret = (uintptr_t)((seed ^ (seed >> 29)) * 0xbf58476d1ce4e5b9ull) | 1;
    __atomic_compare_exchange_n(&hmm_secret, &unset, secret, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* Placement found a free block whose links were overwritten. */
static void free_list_corrupt(hmm_placement *p, hmm_block *b)
{
    hmm_heap *h = (hmm_heap *)((char *)p - offsetof(hmm_heap, placement));
    misuse_report(h, HMM_FAULT_CORRUPT_FREE_LIST, block_payload(b), NULL, 0);
}

void heap_init(hmm_heap *h, hmm_source *source)
{
    /* A heap made without a seeded secret (the simulated ones) gets one
     * from its own address: unguessable enough where nobody attacks. */
    heap_seed_secret((uint64_t)(uintptr_t)h ^ 0x2545f4914f6cdd1dull);
    memset(h, 0, sizeof *h);
    h->source = source;
    h->call = CALL_MALLOC;
    placement_init(&h->placement, NULL); /* the default policy */
    h->placement.on_corrupt = free_list_corrupt;
    h->grow_min = HMM_DEFAULT_GROW_MIN;
    h->trim_threshold = option_default_size(OPTION_TRIM_THRESHOLD);
    h->top_pad = option_default_size(OPTION_TOP_PAD);
    h->mmap_threshold = option_default_size(OPTION_MMAP_THRESHOLD);
    h->mmap_max = SIZE_MAX;
}

/* ---- Accounting -------------------------------------------------------- */

/* The bytes in use in the heap's segments: those of mapped blocks, which
 * trimming cannot concern, left out. */
static size_t segment_bytes_in_use(const hmm_heap *h)
{
    size_t all = h->counters.bytes_in_use, mapped = h->counters.mapped_bytes;
    return all > mapped ? all - mapped : 0;
}

static void account_in_use(hmm_heap *h, size_t bytes)
{
    h->counters.bytes_in_use += bytes;
    if (h->counters.bytes_in_use > h->counters.peak_bytes_in_use)
        h->counters.peak_bytes_in_use = h->counters.bytes_in_use;
    /* Drain the parked blocks once half of this is freed again (only for
     * heaps big enough for a trim to be worth it): see drain_parked. */
    if (__builtin_expect(h->draining, 0)) {
        h->draining = 0;
        h->resume_parking(h);
    }
    size_t half = segment_bytes_in_use(h) / 2;
    if (half > h->drain_mark && half >= h->trim_threshold)
        h->drain_mark = half;
}

static void account_heap(hmm_heap *h, size_t grown, size_t shrunk)
{
    h->counters.heap_size += grown;
    h->counters.heap_size -= shrunk;
    if (h->counters.heap_size > h->counters.peak_heap_size)
        h->counters.peak_heap_size = h->counters.heap_size;
}

/* ---- Free blocks ------------------------------------------------------- */

/* Is b the last block of the break segment? */
static int at_top(const hmm_heap *h, const hmm_block *b)
{
    /* h->end is where the break segment ends, its end marker just before. */
    return h->break_segment && (char *)block_next(b) == h->end - HMM_END_MARKER_SIZE;
}

/* File the free block b: as the top, or with placement. */
static void put_free(hmm_heap *h, hmm_block *b)
{
    if (at_top(h, b))
        h->top = b;
    else
        placement_insert(&h->placement, b);
}

/* Take the free block b out of wherever it is filed. */
static void take_free(hmm_heap *h, hmm_block *b)
{
    if (b == h->top)
        h->top = NULL;
    else
        placement_remove(&h->placement, b);
}

/* The break segment is about to change: its top becomes an ordinary free
 * block. */
static void retire_top(hmm_heap *h)
{
    if (h->top)
        placement_insert(&h->placement, h->top);
    h->top = NULL;
}

/*
 * Is a free neighbour fit to merge with?  The one after a block is found
 * through the block's own (sealed) size, so its header need only be
 * sealed.  The one before is found through the footer word, which a write
 * after free can reach: it must lie in the heap and its header must be
 * sealed, free and of the footer's size.  A neighbour that fails is
 * reported (an overflow or a write after free hit it) and left alone.
 */
/* Out of line: the report must not cost the merges registers. */
static __attribute__((noinline, cold)) int broken_neighbour(hmm_heap *h, hmm_block *n)
{
    misuse_report(h, HMM_FAULT_CORRUPT_HEADER, block_payload(n), NULL, 0);
    return 0;
}

static inline int next_mergeable(hmm_heap *h, hmm_block *next)
{
    return __builtin_expect(block_header_ok(next), 1) ? 1 : broken_neighbour(h, next);
}

static inline int prev_mergeable(hmm_heap *h, hmm_block *b)
{
    hmm_block *prev = block_prev(b);
    if (__builtin_expect(b->prev_size <= (uintptr_t)b - h->placement.low &&
                             !((uintptr_t)prev & (HMM_ALIGNMENT - 1)) && block_header_ok(prev) &&
                             !block_in_use(prev) && block_size(prev) == b->prev_size, 1))
        return 1;
    return broken_neighbour(h, prev);
}

/*
 * Make [b, b + size) a free block: merge it with a free neighbour on either
 * side, write its header and footer, and give it to placement.  b's header
 * must carry the right PREV_IN_USE bit.  Returns the merged block.
 *
 * In check mode, free memory holds the free fill.  The callers that free
 * bytes which held something else (a block the program freed, new memory)
 * fill them first (fill_released); a split or a memalign lead gives back
 * bytes that were free a moment ago and hold the fill already, and must
 * not pay to fill them again: the rest of a split can be the whole top.
 */
static void fill_released(hmm_heap *h, hmm_block *b, size_t size)
{
    if (h->check_level)
        guard_fill_free((char *)b + HMM_HEADER_SIZE, (char *)b + size);
}

static inline __attribute__((always_inline)) hmm_block *merge_and_file(hmm_heap *h, hmm_block *b, size_t size)
{
    /* A block the program frees is in use and whole; a split's tail, a
     * memalign lead or new memory is not.  Only the first has a size a
     * later double free can be told (HMM_OWN_SIZE). */
    int freed_by_program = block_in_use(b) && block_size(b) == size;
    size_t own = size;
    hmm_block *next = (hmm_block *)((char *)b + size);
    if (!block_in_use(next) && next_mergeable(h, next)) {
        /* (the end marker counts as in use) */
        take_free(h, next);
        size += block_size(next);
        if (h->check_level) /* its links are free memory now; its header stays */
            guard_fill_free(block_payload(next), next + 1);
    }
    if (!block_prev_in_use(b) && prev_mergeable(h, b)) {
        /* b's own header stays behind, inside the merged block: mark it
         * free (and sealed), or a stale "in use" there would let a double
         * free of b through; with its own size, which that report names. */
        block_write(b, own | (b->size_flags & HMM_PREV_IN_USE) | (freed_by_program ? HMM_OWN_SIZE : 0));
        hmm_block *prev = block_prev(b);
        take_free(h, prev);
        size += block_size(prev);
        b = prev;
    }
    block_mark_free(b, size, freed_by_program && size == own); /* grown by a merge: not its own size */
    put_free(h, b);
    return b;
}

/* The same, out of line, for the callers off the hot path (heap_free_block
 * has it inline: every free the caches give back goes through it). */
static __attribute__((noinline)) hmm_block *release_block(hmm_heap *h, hmm_block *b, size_t size)
{
    return merge_and_file(h, b, size);
}

/* Shrink the in-use block b to `want` bytes, freeing the tail if it is big
 * enough to be a block of its own.  Accounting is the caller's. */
static void split_tail(hmm_heap *h, hmm_block *b, size_t want)
{
    size_t have = block_size(b);
    if (have - want < HMM_MIN_BLOCK)
        return;
    block_set(b, want, 1);
    hmm_block *rest = (hmm_block *)((char *)b + want);
    rest->size_flags = HMM_PREV_IN_USE; /* all release_block keeps of it */
    release_block(h, rest, have - want);
}

/* ---- Growing and trimming ---------------------------------------------- */

/*
 * Is it time to give the top back?  At once, as glibc does, unless the heap
 * is cycling: it grew again within trim_delay_ms of giving memory back.  A
 * program that frees a batch of blocks and builds the next one at once (a
 * request loop, a pass over a file) otherwise moves the break down and up
 * every time, and faults every page in between in anew, which cost it more
 * than all its mallocs and frees (fifo_lifo: 230,000 page faults against
 * glibc's 68,000, and 2.2 times glibc's time).  A cycling heap keeps its
 * top until it has not grown for trim_delay_ms, as jemalloc and mimalloc
 * give pages back only after a delay; the first free after that trims, and
 * malloc_trim always does.
 */
static uint64_t now_ms(const hmm_heap *h)
{
    if (h->clock_ms)
        return h->clock_ms;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t); /* the vDSO: no system call */
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void note_grown(hmm_heap *h)
{
    if (!h->trim_delay_ms)
        return;
    h->last_grow_ms = now_ms(h);
    if (h->counters.trim_calls && h->last_grow_ms - h->last_trim_ms < h->trim_delay_ms)
        h->cycling = 1;
}

static int trim_due(hmm_heap *h)
{
    if (!h->cycling)
        return 1;
    if (now_ms(h) - h->last_grow_ms < h->trim_delay_ms)
        return 0;
    h->cycling = 0; /* quiet for a while: trim, and again at once next time */
    return 1;
}

/*
 * Move the break up for `need` more bytes.  Ask for at least grow_min, so
 * that one system call serves many allocations; if that much is not to be
 * had, ask for just what is needed (the last pages before a limit are still
 * worth having).  Returns the old break and the increment, or NULL.
 */
static char *raise_break(hmm_heap *h, size_t need, size_t *incr)
{
    size_t page = h->source->page_size;
    size_t exact = align_up(need, page);
    size_t generous = exact > h->grow_min ? exact : align_up(h->grow_min, page);
    if (exact > (size_t)PTRDIFF_MAX)
        return NULL;
    char *old = h->source->move_break(h->source, (intptr_t)generous);
    *incr = generous;
    if (!old && generous > exact) {
        old = h->source->move_break(h->source, (intptr_t)exact);
        *incr = exact;
    }
    return old;
}

static char *break_now(const hmm_heap *h)
{
    return h->source->move_break(h->source, 0);
}

/* Is the break still where the break segment ends?  (Some other code may
 * have moved it; the break may also sit up to 15 bytes past the aligned
 * segment end when the first break was unaligned.) */
static int break_at_segment_end(const hmm_heap *h, const hmm_segment *s)
{
    char *brk = break_now(h);
    return brk && (char *)((uintptr_t)brk & ~(uintptr_t)(HMM_ALIGNMENT - 1)) == segment_end(s);
}

static void link_segment(hmm_heap *h, hmm_segment *s)
{
    /* Kept in address order, for walks and the segment map.  A new break
     * segment mostly lies just above the newest one: no walk then. */
    hmm_segment **at = &h->segments;
    if (h->newest && h->newest < s && (!h->newest->next || h->newest->next > s))
        at = &h->newest->next;
    while (*at && *at < s)
        at = &(*at)->next;
    s->next = *at;
    *at = s;
    segment_map_add(h, s);
}

/* Lay out a new segment over [base, base + bytes): header, one free block,
 * end marker.  Returns the free block. */
static hmm_block *segment_create(hmm_heap *h, char *base, size_t bytes, int mapped)
{
    char *start = (char *)align_up((uintptr_t)base, HMM_ALIGNMENT);
    char *end = (char *)((uintptr_t)(base + bytes) & ~(uintptr_t)(HMM_ALIGNMENT - 1));
    hmm_segment *s = (hmm_segment *)start;
    s->size = (size_t)(end - start);
    s->mapped = mapped;
    placement_add_bounds(&h->placement, (uintptr_t)s, (uintptr_t)segment_end(s));
    link_segment(h, s);
    h->newest = s;
    if (!mapped) {
        retire_top(h);
        h->break_segment = s;
        h->end = end;
        if (!h->start || start < h->start)
            h->start = start;
    }
    account_heap(h, s->size, 0);
    h->counters.grow_calls++;

    hmm_block *first = segment_first_block(s);
    hmm_block *marker = segment_end_marker(s);
    block_write(marker, HMM_IN_USE);
    block_write(first, HMM_PREV_IN_USE); /* nothing before it to merge with */
    fill_released(h, first, (size_t)((char *)marker - (char *)first));
    return release_block(h, first, (size_t)((char *)marker - (char *)first));
}

/* Grow the break segment in place so that its top free block holds at
 * least `want` bytes.  NULL when there is no such segment or the break will
 * not move. */
static hmm_block *extend_break_segment(hmm_heap *h, size_t want)
{
    /* A second try only after the break jumped: see below. */
    for (int tries = 0; tries < 2; tries++) {
        hmm_segment *s = h->break_segment;
        if (!s)
            return NULL;
        if (!break_at_segment_end(h, s)) {
            retire_top(h); /* someone else moved the break */
            h->break_segment = NULL;
            return NULL;
        }
        hmm_block *marker = segment_end_marker(s);
        size_t top_free = h->top ? block_size(h->top) : 0;
        size_t need = want > top_free ? want - top_free : 0;
        size_t incr;
        char *old = raise_break(h, need, &incr);
        if (!old)
            return NULL;
        if ((char *)((uintptr_t)old & ~(uintptr_t)(HMM_ALIGNMENT - 1)) != segment_end(s)) {
            /* The break moved between our two calls, or jumped to a stand-in
             * (source_os.c): what we got is a segment apart.  It was sized
             * to add to this segment's top, which it does not have, so it
             * may hold less than `want`; as the break segment now, it then
             * grows in place. */
            hmm_block *b = segment_create(h, old, incr, 0);
            if (block_size(b) >= want)
                return b;
            continue;
        }
        s->size += incr;
        h->end = segment_end(s);
        segment_map_grown(h, s, segment_end(s) - incr);
        placement_add_bounds(&h->placement, (uintptr_t)s, (uintptr_t)segment_end(s));
        account_heap(h, incr, 0);
        h->counters.grow_calls++;

        /* The old end marker becomes the header of the new free space. */
        hmm_block *new_marker = segment_end_marker(s);
        block_write(new_marker, HMM_IN_USE);
        fill_released(h, marker, incr);
        return release_block(h, marker, incr);
    }
    return NULL; /* jumped twice: grow() maps a segment of the full size */
}

/* A new segment holding at least `want` bytes: from the break if it moves
 * (away from the old segment), else mapped. */
static hmm_block *add_segment(hmm_heap *h, size_t want)
{
    size_t overhead = HMM_SEGMENT_HEADER_SIZE + HMM_END_MARKER_SIZE + HMM_ALIGNMENT;
    if (want > HMM_MAX_REQUEST - overhead - h->source->page_size)
        return NULL;
    size_t bytes;
    char *base = raise_break(h, want + overhead, &bytes);
    if (base)
        return segment_create(h, base, bytes, 0);
    if (!h->source->map)
        return NULL;
    bytes = align_up(want + overhead, h->source->page_size);
    /* Mapped segments double in size, so that a heap whose break is stuck
     * still has few segments, and pointer checks stay short. */
    if (h->mapped_segment_size < HMM_MAP_SEGMENT_MIN)
        h->mapped_segment_size = HMM_MAP_SEGMENT_MIN;
    if (bytes < h->mapped_segment_size)
        bytes = h->mapped_segment_size;
    else
        bytes = align_up(bytes, HMM_MAP_SEGMENT_MIN);
    if (h->mapped_segment_size < HMM_MAP_SEGMENT_MAX)
        h->mapped_segment_size *= 2;
    base = h->source->map(h->source, bytes);
    if (!base)
        return NULL;
    return segment_create(h, base, bytes, 1);
}

/* A free block of at least `want` bytes from new memory, or NULL. */
static hmm_block *grow(hmm_heap *h, size_t want)
{
    hmm_block *b = extend_break_segment(h, want);
    if (!b)
        b = add_segment(h, want);
    if (b)
        note_grown(h);
    return b;
}

/* Give the top of the break segment back, keeping `pad` bytes free there. */
static int trim_top(hmm_heap *h, size_t pad)
{
    hmm_segment *s = h->break_segment;
    if (!s || !break_at_segment_end(h, s))
        return 0;
    hmm_block *top = h->top;
    if (!top)
        return 0;
    if (!block_header_ok(top)) {
        misuse_report(h, HMM_FAULT_CORRUPT_HEADER, block_payload(top), NULL, 0);
        return 0;
    }
    size_t size = block_size(top);
    size_t keep = pad > HMM_MIN_BLOCK ? align_up(pad, HMM_ALIGNMENT) : HMM_MIN_BLOCK;
    if (size <= keep)
        return 0;
    size_t release = (size - keep) & ~(h->source->page_size - 1);
    if (release == 0)
        return 0;
    if (!h->source->move_break(h->source, -(intptr_t)release))
        return 0;

    s->size -= release;
    h->end = segment_end(s);
    segment_map_shrunk(h, s, segment_end(s) + release);
    /* Remember where blocks were given back, to name a later free of one
     * of them a double free. */
    if (!h->released_high || segment_end(s) < h->released_low)
        h->released_low = segment_end(s);
    if (segment_end(s) + release > h->released_high)
        h->released_high = segment_end(s) + release;
    account_heap(h, 0, release);
    h->counters.trim_calls++;
    if (h->trim_delay_ms)
        h->last_trim_ms = now_ms(h);
    block_write(segment_end_marker(s), HMM_IN_USE);
    block_mark(top, size - release, 0);
    return 1;
}

typedef struct discard_job {
    hmm_heap *heap;
    int released;
} discard_job;

/* Give back the physical pages inside a free block, keeping its header,
 * links and footer (the next block's prev_size) where they are. */
static int discard_free_pages(hmm_block *b, void *ctx)
{
    discard_job *job = ctx;
    size_t page = job->heap->source->page_size;
    uintptr_t low = align_up((uintptr_t)b + sizeof(hmm_block), page);
    uintptr_t high = ((uintptr_t)b + block_size(b)) & ~(uintptr_t)(page - 1);
    if (high > low) {
        job->heap->source->discard(job->heap->source, (void *)low, high - low);
        job->released = 1;
    }
    return 0;
}

int hmm_heap_trim(hmm_heap *h, size_t pad)
{
    int released = trim_top(h, pad);
    /* Discarded pages read back as zeros: in check mode, that would look
     * like writes after free. */
    if (!h->source->discard || h->check_level)
        return released;
    discard_job job = {h, released};
    placement_each(&h->placement, discard_free_pages, &job);
    if (h->top)
        discard_free_pages(h->top, &job);
    return job.released;
}

/* ---- Allocation -------------------------------------------------------- */

/* A free block of at least `want` bytes (want from block_size_for), taken
 * from where it was filed but not yet marked in use, split or counted: from
 * placement, else from the top, else from new memory. */
static hmm_block *take_block(hmm_heap *h, size_t want)
{
    hmm_block *b = placement_find(&h->placement, want);
    if (b && (!block_header_ok(b) || block_in_use(b))) {
        /* A write after free hit the header of a block on a free list. */
        misuse_report(h, HMM_FAULT_CORRUPT_HEADER, block_payload(b), NULL, 0);
        return NULL;
    }
    if (!b && h->top && !block_header_ok(h->top)) {
        /* An overflow from the block below hit the top's size. */
        misuse_report(h, HMM_FAULT_CORRUPT_HEADER, block_payload(h->top), NULL, 0);
        return NULL;
    }
    if (!b && !(h->top && block_size(h->top) >= want) && h->reclaim && h->reclaim(h))
        return take_block(h, want); /* blocks kept apart came back: look again before growing */
    if (!b)
        b = h->top && block_size(h->top) >= want ? h->top : grow(h, want);
    if (!b)
        return NULL;
    if (h->check_level) {
        /* What is handed out (the whole block when the rest is too small to
         * split off) and the header and links a split will write must
         * still hold the free fill. */
        size_t size = block_size(b);
        size_t span = size - want < HMM_MIN_BLOCK ? size : want + sizeof(hmm_block);
        if (!guard_free_intact(h, b + 1, (char *)b + span))
            return NULL;
    }
    take_free(h, b);
    return b;
}

/* b, just taken from the free blocks, becomes a block in use of `want`
 * bytes: the tail it does not need is split off and freed.  Its header is
 * written once, with the size it ends up with. */
static void claim_block(hmm_heap *h, hmm_block *b, size_t want)
{
    size_t have = block_size(b);
    if (have - want < HMM_MIN_BLOCK) {
        block_mark(b, have, 1);
        return;
    }
    block_set(b, want, 1);
    /* The rest is filed as it is: b was free, so nothing free lies after
     * it (free neighbours are always merged), and b is in use now. */
    hmm_block *rest = (hmm_block *)((char *)b + want);
    rest->size_flags = HMM_PREV_IN_USE; /* block_mark_free keeps this bit */
    block_mark_free(rest, have - want, 0);
    put_free(h, rest);
}

/* A new block in use was made of b: count it. */
static void count_new_block(hmm_heap *h, hmm_block *b)
{
    account_in_use(h, block_size(b));
    h->counters.blocks_in_use++;
}

/* An in-use block of at least `want` bytes, split and counted. */
static hmm_block *alloc_block(hmm_heap *h, size_t want)
{
    hmm_block *b = take_block(h, want);
    if (!b)
        return NULL;
    claim_block(h, b, want);
    count_new_block(h, b);
    return b;
}

static void *fail(hmm_heap *h)
{
    h->counters.failed_calls++;
    return NULL;
}

/* A large block in its own mapping, counted; NULL when none can be had
 * (the caller then tries the heap). */
static void *allocate_mapped(hmm_heap *h, size_t size, size_t alignment)
{
    void *p = large_alloc(h, size, alignment);
    if (p)
        count_new_block(h, block_of(p));
    return p;
}

/* The size to carve for a request: in check mode, room for the canary. */
static int carve_size(const hmm_heap *h, size_t size, size_t *ask)
{
    size_t extra = h->check_level ? GUARD_EXTRA : 0;
    if (size > HMM_MAX_REQUEST - extra)
        return 0;
    *ask = size + extra;
    return 1;
}

void *heap_allocate(hmm_heap *h, size_t size)
{
    size_t ask;
    if (!carve_size(h, size, &ask))
        return fail(h);
    void *p = NULL;
    if (large_wanted(h, ask))
        p = allocate_mapped(h, ask, HMM_ALIGNMENT);
    if (!p) {
        hmm_block *b = alloc_block(h, block_size_for(ask));
        if (!b)
            return fail(h);
        p = block_payload(b);
    }
    if (h->check_level)
        guard_seal(h, block_of(p), size, 0);
    else if (__builtin_expect(h->perturb, 0)) /* as glibc's alloc_perturb */
        memset(p, h->perturb ^ 0xff, size);
    return p;
}

/*
 * Half of what was in use is free again: give the parked blocks of the
 * calling thread back (other threads' caches are theirs alone), then trim.
 * A program that frees everything parks its last frees, and those are
 * mostly at the top of the heap; parked, they are in use, and the break
 * cannot come down past them.  glibc's tcache parks the first blocks freed
 * instead (it never gives any back), which are mostly low.  Checking at
 * each halving costs one flush (at most a bin's limit per class) per half
 * of the heap freed, and leaves at most the frees since the last check
 * parked; the checks stop once less than trim_threshold is in use.
 */
static void drain_parked(hmm_heap *h)
{
    size_t in_use = segment_bytes_in_use(h);
    h->drain_mark = in_use / 2 >= h->trim_threshold / 2 ? in_use / 2 : 0;
    h->draining = 1;
    h->stop_parking(h); /* frees blocks: may come back here, harmlessly */
    if (h->top && block_size(h->top) >= h->trim_threshold && trim_due(h))
        trim_top(h, h->top_pad);
}

void heap_free_block(hmm_heap *h, hmm_block *b)
{
    h->counters.bytes_in_use -= block_size(b);
    h->counters.blocks_in_use--;
    if (block_mapped(b)) {
        large_free(h, b);
        return;
    }
    if (__builtin_expect(h->perturb, 0) && !h->check_level) /* as glibc's free_perturb */
        memset(block_payload(b), h->perturb, block_usable(b));
    fill_released(h, b, block_size(b));
    b = merge_and_file(h, b, block_size(b));
    if (b == h->top && block_size(b) >= h->trim_threshold && trim_due(h))
        trim_top(h, h->top_pad);
    if (h->stop_parking && segment_bytes_in_use(h) < h->drain_mark)
        drain_parked(h);
}

/* Every public call starts here: the name goes into misuse reports. */
static void begin(hmm_heap *h, enum hmm_call call)
{
    h->call = call;
}

/* ...and ends here, with what check mode 2 does every so often. */
static void *end(hmm_heap *h, void *result)
{
    if (h->check_level > 1)
        guard_tick(h);
    return result;
}

/* The bytes the caller may use in b: in check mode, what it asked for. */
static size_t usable_bytes(const hmm_block *b)
{
    return block_guarded(b) ? guard_request(b) : block_usable(b);
}

void *hmm_heap_alloc(hmm_heap *h, size_t size)
{
    begin(h, CALL_MALLOC);
    h->counters.alloc_calls++;
    return end(h, heap_allocate(h, size));
}

void hmm_heap_free(hmm_heap *h, void *ptr)
{
    if (!ptr)
        return;
    begin(h, CALL_FREE);
    h->counters.free_calls++;
    hmm_block *b = heap_block_from_user(h, ptr);
    if (b && (!block_guarded(b) || guard_intact(h, b)))
        heap_free_block(h, b);
    end(h, NULL);
}

void *hmm_heap_calloc(hmm_heap *h, size_t nmemb, size_t size)
{
    begin(h, CALL_CALLOC);
    h->counters.calloc_calls++;
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        return end(h, fail(h));
    void *p = heap_allocate(h, total);
    hmm_block *b = p ? block_of(p) : NULL;
    if (b && (!block_mapped(b) || block_guarded(b))) /* fresh mappings are zero already */
        memset(p, 0, usable_bytes(b));
    return end(h, p);
}

/* Move b's contents to a new block of `size` bytes; on failure b stays. */
static void *realloc_by_moving(hmm_heap *h, hmm_block *b, size_t size)
{
    void *p = heap_allocate(h, size);
    if (!p)
        return NULL; /* heap_allocate counted the failure */
    size_t have = usable_bytes(b);
    memcpy(p, block_payload(b), have < size ? have : size);
    heap_free_block(h, b);
    return p;
}

/* A mapped block is resized by the OS (mremap: no copy), unless it has
 * become small enough to belong in the heap. */
static void *realloc_mapped(hmm_heap *h, hmm_block *b, size_t size)
{
    if (size >= h->mmap_threshold / 2) {
        size_t before = block_size(b);
        hmm_block *resized = large_resize(h, b, size);
        if (resized) {
            h->counters.bytes_in_use -= before;
            account_in_use(h, block_size(resized));
            return block_payload(resized);
        }
    }
    return realloc_by_moving(h, b, size);
}

/*
 * realloc in check mode.  A block of the heap always moves: a stale pointer
 * to the old one then points at filled free memory, where a write is
 * caught.  That copy is bounded, because check mode keeps the mmap
 * threshold from adapting upwards (large.c): anything bigger has a mapping
 * of its own, and is resized by mremap, without a copy, and its canary
 * sealed again at its new end.  When mremap moves it, the old range is
 * unmapped (a stale pointer faults) and remembered, so that freeing it
 * again is named a double free.  The usual `p = realloc(p, n + 4096)` loop
 * then costs what it costs outside check mode, not a copy of everything so
 * far on every call.
 */
static void *realloc_checked(hmm_heap *h, hmm_block *b, size_t size)
{
    size_t ask;
    if (!block_mapped(b) || !carve_size(h, size, &ask) || ask < h->mmap_threshold / 2)
        return realloc_by_moving(h, b, size);
    size_t kept = usable_bytes(b);
    size_t before = block_size(b);
    hmm_block *resized = large_resize(h, b, ask);
    if (!resized)
        return realloc_by_moving(h, b, size);
    h->counters.bytes_in_use -= before;
    account_in_use(h, block_size(resized));
    guard_seal(h, resized, size, kept < size ? kept : size);
    return block_payload(resized);
}

/* realloc of a live block b to `size` (> 0) bytes. */
static void *realloc_block(hmm_heap *h, hmm_block *b, size_t size)
{
    if (size > HMM_MAX_REQUEST)
        return fail(h);
    if (h->check_level)
        return realloc_checked(h, b, size);
    if (block_mapped(b))
        return realloc_mapped(h, b, size);

    void *ptr = block_payload(b);
    size_t want = block_size_for(size);
    size_t have = block_size(b);
    if (want <= have) { /* shrink in place */
        split_tail(h, b, want);
        h->counters.bytes_in_use -= have - block_size(b);
        return ptr;
    }
    hmm_block *next = block_next(b);
    if (next == h->top || at_top(h, b)) { /* at the top: the break can grow under it */
        size_t top_free = h->top ? block_size(h->top) : 0;
        if (have + top_free < want && extend_break_segment(h, want - have))
            note_grown(h);
        next = block_next(b);
    }
    if (!block_in_use(next) && have + block_size(next) >= want &&
        next_mergeable(h, next)) { /* grow into the free neighbour */
        size_t merged = have + block_size(next);
        take_free(h, next);
        block_mark(b, merged, 1);
        split_tail(h, b, want);
        account_in_use(h, block_size(b) - have);
        return ptr;
    }
    return realloc_by_moving(h, b, size);
}

void *hmm_heap_realloc(hmm_heap *h, void *ptr, size_t size)
{
    begin(h, CALL_REALLOC);
    h->counters.realloc_calls++;
    if (!ptr)
        return end(h, heap_allocate(h, size));
    hmm_block *b = heap_block_from_user(h, ptr);
    if (!b || (block_guarded(b) && !guard_intact(h, b)))
        return end(h, NULL);
    if (size == 0) {
        heap_free_block(h, b);
        return end(h, NULL);
    }
    return end(h, realloc_block(h, b, size));
}

/* A block of `size` bytes at an `alignment` (> 16, a power of two) boundary. */
static void *allocate_aligned(hmm_heap *h, size_t alignment, size_t size)
{
    size_t ask;
    if (!carve_size(h, size, &ask) || alignment > HMM_MAX_REQUEST / 2)
        return fail(h);
    size_t want = block_size_for(ask);
    if (want > HMM_MAX_REQUEST - alignment - HMM_MIN_BLOCK)
        return fail(h);
    void *p = large_wanted(h, ask) ? allocate_mapped(h, ask, alignment) : NULL;
    if (!p) {
        /* Take enough to find an aligned payload with room for a free block
         * of at least HMM_MIN_BLOCK before it, then give both ends back. */
        hmm_block *b = take_block(h, want + alignment + HMM_MIN_BLOCK);
        if (!b)
            return fail(h);
        block_mark(b, block_size(b), 1);
        char *payload = block_payload(b);
        char *aligned = (char *)align_up((uintptr_t)payload, alignment);
        if (aligned != payload) {
            if ((size_t)(aligned - payload) < HMM_MIN_BLOCK)
                aligned += alignment;
            size_t lead = (size_t)(aligned - payload);
            size_t total = block_size(b);
            hmm_block *nb = block_of(aligned);
            nb->size_flags = HMM_PREV_IN_USE; /* all block_set keeps of it */
            block_set(nb, total - lead, 1);
            release_block(h, b, lead); /* b's footer goes into nb->prev_size */
            b = nb;
        }
        split_tail(h, b, want);
        count_new_block(h, b);
        p = block_payload(b);
    }
    if (h->check_level)
        guard_seal(h, block_of(p), size, 0);
    return p;
}

void *hmm_heap_memalign(hmm_heap *h, size_t alignment, size_t size)
{
    begin(h, CALL_MEMALIGN);
    h->counters.memalign_calls++;
    if (alignment <= HMM_ALIGNMENT)
        return end(h, heap_allocate(h, size));
    if (alignment & (alignment - 1)) { /* not a power of two: round up, as glibc's memalign does */
        if (alignment > ((size_t)1 << (sizeof(size_t) * 8 - 2)))
            return end(h, fail(h));
        alignment = (size_t)1 << (sizeof(size_t) * 8 - (size_t)__builtin_clzl(alignment));
    }
    return end(h, allocate_aligned(h, alignment, size));
}

size_t hmm_heap_usable_size(hmm_heap *h, void *ptr)
{
    if (!ptr)
        return 0;
    begin(h, CALL_USABLE_SIZE);
    hmm_block *b = heap_block_from_user(h, ptr);
    return b ? usable_bytes(b) : 0;
}

/* ---- Simulated heaps ---------------------------------------------------- */

typedef struct simulated_heap {
    hmm_heap heap;
    hmm_simulated_source source;
} simulated_heap;

#define SIMULATED_PAGE 4096u /* source_simulated.c's page */

hmm_heap *hmm_heap_create_simulated_with_maps(void *buffer, size_t bytes, size_t map_bytes)
{
    uintptr_t start = align_up((uintptr_t)buffer, HMM_ALIGNMENT);
    size_t control = align_up(sizeof(simulated_heap), HMM_ALIGNMENT);
    if (!buffer || bytes < (start - (uintptr_t)buffer) + control + HMM_MIN_BLOCK * 4)
        return NULL;
    size_t room = bytes - (start - (uintptr_t)buffer) - control;
    simulated_heap *sh = (simulated_heap *)start;
    char *base = (char *)start + control;
    if (map_bytes) {
        /* A process's heap, as replays want it: its break starts on a page
         * and moves as the process heap's does, so that every block lands
         * where it landed in the process. */
        char *page = (char *)align_up((uintptr_t)base, SIMULATED_PAGE);
        if ((size_t)(page - base) >= room)
            return NULL;
        room -= (size_t)(page - base);
        base = page;
    }
    simulated_source_init_with_maps(&sh->source, base, room, map_bytes);
    heap_init(&sh->heap, &sh->source.source);
    if (!map_bytes)
        sh->heap.grow_min = 64u * 1024; /* a small address space wants small steps */
    else
        sh->heap.trim_delay_ms = option_default_size(OPTION_TRIM_DELAY); /* the process heap's */
    return &sh->heap;
}

hmm_heap *hmm_heap_create_simulated(void *buffer, size_t bytes)
{
    return hmm_heap_create_simulated_with_maps(buffer, bytes, 0);
}

/* ---- Policy ------------------------------------------------------------- */

int hmm_heap_set_policy(hmm_heap *h, const char *name)
{
    const hmm_placement_ops *policy = placement_policy_from_name(name);
    if (!policy)
        return -1;
    /* Re-file every free block but the top: find them by walking the
     * segments, since the old structure is being replaced. */
    placement_init(&h->placement, policy);
    for (hmm_segment *s = h->segments; s; s = s->next)
        for (hmm_block *b = segment_first_block(s); !block_is_end(b); b = block_next(b))
            if (!block_in_use(b) && b != h->top)
                placement_insert(&h->placement, b);
    return 0;
}

const char *hmm_heap_policy(const hmm_heap *h)
{
    return h->placement.ops->name;
}

const char *hmm_policy_name(int index)
{
    const hmm_placement_ops *policy = placement_policy(index);
    return policy ? policy->name : NULL;
}
