/*
 * validate.c - is a caller's pointer a block of this heap, and if not, what
 * is it?
 *
 * free, realloc and malloc_usable_size hand the heap a pointer the program
 * chose.  heap_block_from_user accepts it in O(1) when it is a block in use
 * (sealed header, in a segment, 16-aligned, a next header that agrees);
 * anything else is reported through misuse.c, and only then does the code
 * here take longer (a walk of the segment, a look at the mapped blocks) to
 * name the fault exactly: an invalid pointer, a double free, a use after
 * free, a broken header.
 */
#include "heap.h"

#include <stddef.h>
#include <stdint.h>

static int segment_holds(const hmm_segment *s, const void *p)
{
    return s && (const char *)p >= (const char *)s && (const char *)p < segment_end(s);
}

hmm_segment *heap_segment_of(const hmm_heap *h, const void *p)
{
    /* Most blocks live in the newest segment or the one at the break. */
    if (segment_holds(h->newest, p))
        return h->newest;
    if (segment_holds(h->break_segment, p))
        return h->break_segment;
    if (segment_map_usable(h))
        return segment_map_find(h, p);
    for (hmm_segment *s = h->segments; s; s = s->next)
        if ((const char *)p >= (char *)s && (const char *)p < segment_end(s))
            return s;
    return NULL;
}

/* A block already freed was passed again: a double free for free(), a use
 * after free for anything else.  `holder` is ptr when `size` is the
 * block's own, else the free block (its header, never ptr) of `size` bytes
 * that ptr's memory is part of now. */
static hmm_block *freed_again_in(hmm_heap *h, const void *ptr, const void *holder, size_t size)
{
    hmm_fault fault = h->call == CALL_FREE ? HMM_FAULT_DOUBLE_FREE : HMM_FAULT_USE_AFTER_FREE;
    misuse_report(h, fault, ptr, holder, size);
    return NULL;
}

static hmm_block *freed_again(hmm_heap *h, const void *ptr, size_t size)
{
    return freed_again_in(h, ptr, ptr, size);
}

/*
 * The block of segment s that holds address `want`, found by walking the
 * segment from its first block: NULL, after reporting it, when a broken
 * header is met first (an overflow), or the end marker when `want` is past
 * the last block.  This runs only on the way to a report, so it may be
 * O(heap); what it finds names the fault exactly.
 */
static hmm_block *walk_to(hmm_heap *h, hmm_segment *s, const void *want)
{
    hmm_block *end = segment_end_marker(s);
    hmm_block *b = segment_first_block(s);
    for (; b < end; b = block_next(b)) {
        size_t size = block_size(b);
        if (!block_header_ok(b) || size < HMM_MIN_BLOCK || size > (size_t)((char *)end - (char *)b)) {
            misuse_report(h, HMM_FAULT_CORRUPT_HEADER, block_payload(b), NULL, 0);
            return NULL;
        }
        if ((const char *)want < (const char *)block_next(b))
            break;
    }
    return b;
}

/* ptr, in segment s, is not a block start with a sealed header: say what
 * it is (inside a block, inside free memory, or no block at all). */
static hmm_block *explain_bad_pointer(hmm_heap *h, hmm_segment *s, const void *ptr)
{
    const hmm_block *want = block_of(ptr);
    hmm_block *b = want >= segment_first_block(s) ? walk_to(h, s, want) : segment_end_marker(s);
    if (!b)
        return NULL; /* a broken header, reported */
    if (b == segment_end_marker(s))
        misuse_report(h, HMM_FAULT_INVALID_POINTER, ptr, NULL, 0);
    else if (block_in_use(b))
        misuse_report(h, HMM_FAULT_INVALID_POINTER, ptr, block_payload(b), block_size(b));
    else
        misuse_report(h, HMM_FAULT_INVALID_POINTER, ptr, ptr, 0);
    return NULL;
}

/* The block at ptr has a sealed header (`word`) marked free (or parked):
 * freed already, unless that header is one a merge left behind inside a
 * block that is in use again, ptr pointing into it.  Only the walk tells.
 * A parked block, or a freed one whose header kept its own size
 * (HMM_OWN_SIZE), is named with that size; else the memory is part of the
 * free block b the walk found, whose size is named. */
static hmm_block *freed_block_again(hmm_heap *h, hmm_segment *s, const void *ptr, size_t word)
{
    hmm_block *b = walk_to(h, s, block_of(ptr));
    if (!b)
        return NULL; /* a broken header, reported */
    if (b != block_of(ptr) && block_in_use(b))
        return explain_bad_pointer(h, s, ptr);
    if (word & (HMM_IN_USE | HMM_OWN_SIZE))
        return freed_again(h, ptr, word & HMM_SIZE_MASK);
    return freed_again_in(h, ptr, b, block_size(b));
}

/* ptr is in no segment: a mapped block, one freed lately, or not ours.
 * Only the registry is read until ptr is known to be a mapped block: the
 * memory at a wild pointer may not be mapped at all. */
static hmm_block *mapped_block_from_user(hmm_heap *h, const void *ptr)
{
    hmm_block *b = block_of(ptr);
    if (large_is_block(h, ptr)) {
        size_t word = b->size_flags;
        if (header_fault(b, word) || (word & (HMM_IN_USE | HMM_MAPPED)) != (HMM_IN_USE | HMM_MAPPED)) {
            misuse_report(h, HMM_FAULT_CORRUPT_HEADER, ptr, NULL, 0);
            return NULL;
        }
        return b;
    }
    size_t freed = large_recently_freed(h, ptr);
    if (freed)
        return freed_again(h, ptr, freed);
    if (!((uintptr_t)ptr & (HMM_ALIGNMENT - 1)) && (const char *)ptr >= h->released_low &&
        (const char *)ptr < h->released_high)
        return freed_again(h, ptr, 0); /* freed, merged into the top, trimmed */
    const void *holder = large_block_holding(h, ptr);
    misuse_report(h, HMM_FAULT_INVALID_POINTER, ptr, holder,
                  holder ? block_size(block_of(holder)) : 0);
    return NULL;
}

hmm_block *heap_block_from_user(hmm_heap *h, const void *ptr)
{
    hmm_segment *s = heap_segment_of(h, ptr);
    if (!s)
        return mapped_block_from_user(h, ptr);
    hmm_block *b = block_of(ptr);
    hmm_block *end = segment_end_marker(s);
    if (((uintptr_t)ptr & (HMM_ALIGNMENT - 1)) || b < segment_first_block(s) || b >= end)
        return explain_bad_pointer(h, s, ptr);
    size_t word = b->size_flags; /* read once: checked and used as one value */
    if (header_fault(b, word))
        return explain_bad_pointer(h, s, ptr);
    size_t size = word & HMM_SIZE_MASK;
    if (!(word & HMM_IN_USE)) /* sealed, so a block once: freed, maybe merged since */
        return freed_block_again(h, s, ptr, word);
    if ((word & HMM_MAPPED) || size < HMM_MIN_BLOCK || size > (size_t)((char *)end - (char *)b)) {
        misuse_report(h, HMM_FAULT_CORRUPT_HEADER, ptr, NULL, 0);
        return NULL;
    }
    /* Marked as parked in a thread cache: a double free if it is in a bin,
     * else the mark was copied there, and this is the block's first free. */
    if (h->cache_key && block_marked_parked(b, h->cache_key) &&
        (!h->cache_holds || h->cache_holds(h, b)))
        return freed_block_again(h, s, ptr, word);
    /* The next header, which free and realloc will change: an overflow
     * from b lands there first.  Report it now, before anything changes. */
    hmm_block *next = block_next(b);
    if (!block_header_ok(next)) {
        misuse_report(h, HMM_FAULT_CORRUPT_HEADER, block_payload(next), NULL, 0);
        return NULL;
    }
    if (!block_prev_in_use(next)) { /* sealed both, yet they disagree */
        misuse_report(h, HMM_FAULT_CORRUPT_HEADER, ptr, NULL, 0);
        return NULL;
    }
    return b;
}
