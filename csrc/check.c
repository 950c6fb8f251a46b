/*
 * check.c - the heap walker and the heap checker.
 *
 * hmm_heap_check() counts broken invariants; 0 means healthy.  Each
 * condition is written as the thing that must hold, with a message for when
 * it does not.  It walks every block, so it is O(heap): for tests and the
 * check mode, never for the fast path.
 */
#include "format.h"
#include "heap.h"

int hmm_heap_walk(const hmm_heap *h, hmm_walk_cursor *cursor, hmm_block_info *out)
{
    const hmm_segment *s = cursor->segment;
    const hmm_block *b = cursor->block;
    if (s == (const void *)h)
        return 0; /* finished earlier */
    if (!s) {
        s = h->segments;
        b = s ? segment_first_block(s) : NULL;
    }
    while (s && block_is_end(b)) {
        s = s->next;
        b = s ? segment_first_block(s) : NULL;
    }
    if (!s) {
        cursor->segment = h;
        cursor->block = NULL;
        return 0;
    }
    out->address = block_payload((hmm_block *)b);
    out->size = block_size(b);
    out->usable = !block_in_use(b) ? 0 : block_guarded(b) ? guard_request(b) : block_usable(b);
    out->used = block_in_use(b);
    cursor->segment = s;
    cursor->block = block_next(b);
    return 1;
}

typedef struct checker {
    unsigned broken;
    hmm_text why;
} checker;

static void expect(checker *c, int condition, const char *message, const void *where)
{
    if (condition)
        return;
    c->broken++;
    if (c->broken <= 8 && c->why.cap) {
        text_str(&c->why, message);
        text_str(&c->why, " at ");
        text_hex(&c->why, (uintptr_t)where);
        text_str(&c->why, "\n");
    }
}

typedef struct free_tally {
    const hmm_heap *heap;
    checker *c;
    size_t count;
} free_tally;

static int check_listed_block(hmm_block *b, void *ctx)
{
    free_tally *t = ctx;
    t->count++;
    expect(t->c, heap_segment_of(t->heap, b) != NULL, "free list: block outside the heap", b);
    return 0;
}

static void check_segment(const hmm_heap *h, const hmm_segment *s, checker *c, struct hmm_stats *seen)
{
    const hmm_block *end = segment_end_marker(s);
    expect(c, ((uintptr_t)s & (HMM_ALIGNMENT - 1)) == 0, "segment: misaligned", s);
    expect(c, block_header_ok(end) && block_in_use(end) && block_size(end) == 0, "segment: end marker overwritten", end);
    expect(c, !s->mapped || s != h->break_segment, "segment: mapped segment taken for the break", s);
    int prev_used = 1; /* the first block has nothing to merge with */
    const hmm_block *b = segment_first_block(s);
    while (b < end) {
        size_t size = block_size(b);
        expect(c, ((uintptr_t)b & (HMM_ALIGNMENT - 1)) == 0, "block: misaligned", b);
        expect(c, size >= HMM_MIN_BLOCK, "block: smaller than the minimum", b);
        if (size < HMM_MIN_BLOCK || size > (size_t)((const char *)end - (const char *)b)) {
            expect(c, 0, "block: size runs past the segment end", b);
            return; /* cannot walk further */
        }
        expect(c, (b->size_flags & HMM_MAPPED) == 0, "block: marked mapped inside a segment", b);
        expect(c, block_prev_in_use(b) == prev_used, "block: PREV_IN_USE disagrees with the previous block", b);
        const hmm_block *next = block_next(b);
        expect(c, block_header_ok(b), "block: header's seal broken", b);
        if (block_in_use(b)) {
            seen->blocks_in_use++;
            seen->bytes_in_use += size;
            if (block_guarded(b)) {
                const void *changed = guard_canary_changed(b);
                expect(c, !changed, "buffer overflow", changed);
            }
        } else {
            expect(c, prev_used, "block: two free blocks side by side (not merged)", b);
            expect(c, next->prev_size == size, "block: footer disagrees with header", b);
            if (h->check_level) {
                const void *changed = guard_free_changed(b + 1, next);
                expect(c, !changed, "write after free", changed);
            }
            seen->free_blocks++;
        }
        prev_used = block_in_use(b);
        b = next;
    }
    expect(c, b == end, "segment: blocks do not end at the end marker", b);
    expect(c, block_prev_in_use(end) == prev_used, "segment: end marker's PREV_IN_USE is wrong", end);
    seen->heap_size += s->size;
}

typedef struct mapped_tally {
    checker *c;
    struct hmm_stats *seen;
} mapped_tally;

static void check_mapped_block(hmm_block *b, void *ctx)
{
    mapped_tally *t = ctx;
    expect(t->c, block_header_ok(b) && (b->size_flags & (HMM_FLAG_MASK & ~(size_t)HMM_GUARDED)) ==
                                        (HMM_IN_USE | HMM_PREV_IN_USE | HMM_MAPPED),
           "mapped block: header overwritten", b);
    if (block_guarded(b)) {
        const void *changed = guard_canary_changed(b);
        expect(t->c, !changed, "buffer overflow", changed);
    }
    t->seen->blocks_in_use++;
    t->seen->bytes_in_use += block_size(b);
    t->seen->mapped_blocks++;
    t->seen->mapped_bytes += b->prev_size + block_size(b);
}

unsigned hmm_heap_check(const hmm_heap *h, char *why, size_t why_len)
{
    checker c = {0};
    text_init(&c.why, why, why ? why_len : 0);
    struct hmm_stats seen = {0};
    const hmm_segment *prev = NULL;
    for (const hmm_segment *s = h->segments; s; prev = s, s = s->next) {
        expect(&c, !prev || segment_end(prev) <= (const char *)s, "segments: overlap or out of order", s);
        check_segment(h, s, &c, &seen);
    }
    expect(&c, !h->break_segment || heap_segment_of(h, h->break_segment) == h->break_segment,
           "heap: break segment is not one of its segments", h->break_segment);

    mapped_tally mapped = {&c, &seen};
    large_each(h, check_mapped_block, &mapped);
    expect(&c, seen.mapped_blocks == h->counters.mapped_blocks, "stats: mapped_blocks is wrong", h);
    expect(&c, seen.mapped_bytes == h->counters.mapped_bytes, "stats: mapped_bytes is wrong", h);

    free_tally tally = {h, &c, 0};
    placement_each(&h->placement, check_listed_block, &tally);
    expect(&c, placement_check(&h->placement) == 0, "free list: broken links or a block in use", h);
    if (h->top) {
        expect(&c, !block_in_use(h->top), "top: in use", h->top);
        expect(&c, h->break_segment && block_next(h->top) == segment_end_marker(h->break_segment),
               "top: not the last block of the break segment", h->top);
    }
    expect(&c, tally.count + (h->top != NULL) == seen.free_blocks,
           "free list: does not hold exactly the free blocks (top aside)", h);
    expect(&c, seen.blocks_in_use == h->counters.blocks_in_use, "stats: blocks_in_use is wrong", h);
    expect(&c, seen.bytes_in_use == h->counters.bytes_in_use, "stats: bytes_in_use is wrong", h);
    expect(&c, seen.heap_size == h->counters.heap_size, "stats: heap_size is wrong", h);
    return c.broken;
}
