/*
 * placement_list.c - first fit and next fit over one free list.
 *
 * The list is doubly linked through the free blocks themselves (next_free,
 * prev_free), so insert and remove are O(1) and a search only ever looks at
 * free blocks.  Freed blocks go to the front (LIFO), which keeps free()
 * O(1) and hands out recently used, cache-warm memory first.  The two
 * policies differ only in the search, which is O(number of free blocks):
 *
 *   first fit  the first block big enough from the head (the seed's policy)
 *   next fit   the same, starting at the rover, the block after the one the
 *              previous search returned, and wrapping round once; it spreads
 *              the searches instead of cutting up the head again and again
 *
 * Best fit walked this list too, but it has to walk all of it unless a
 * block fits exactly: hundreds of blocks an allocation in python3.  It
 * chooses the same block through segregated fit's size classes now
 * (placement_segregated.c).
 *
 * A replay indexes the list (p->index, list_index.c): the walks below are
 * then asked of the index, which finds the same block without walking,
 * unless the replay is watching which blocks a walk looks at.
 *
 * The links are sealed (block.h) and read through next_of/prev_of, which
 * check them before they are followed.  A search that meets a block whose
 * header is not sealed right returns it at once, whatever its size says,
 * and the heap reports it: a write after free is never passed over.
 */
#include "placement.h"

#include <stddef.h>

/* One more insert (0) or remove (1) of b in the list's history hash. */
static void list_history(hmm_placement *p, const hmm_block *b, uintptr_t removed)
{
    p->list_hash = (p->list_hash + ((uintptr_t)b | removed)) * 0x9E3779B97F4A7C15ull;
}

static void list_insert(hmm_placement *p, hmm_block *b)
{
    list_history(p, b, 0);
    set_prev(b, NULL);
    set_next(b, p->list);
    if (p->list)
        set_prev(p->list, b);
    p->list = b;
    if (p->index)
        p->index->filed(p, b);
}

static void list_remove(hmm_placement *p, hmm_block *b)
{
    hmm_block *next = next_of(p, b);
    hmm_block *prev = prev_of(p, b);
    if (!links_back(b, next, prev, &p->list)) {
        p->on_corrupt(p, b);
        return;
    }
    if (p->rover == b) /* keep the rover on a filed block */
        p->rover = next;
    if (prev)
        set_next(prev, next);
    else
        p->list = next;
    if (next)
        set_prev(next, prev);
    list_history(p, b, 1);
    if (p->index)
        p->index->unfiled(p, b);
}

/* The first block big enough in [from, to), or NULL.  A walk longer than
 * the list can be is a cycle: reported, and ended. */
static hmm_block *first_between(hmm_placement *p, hmm_block *from, const hmm_block *to, size_t size)
{
    size_t left = placement_most_blocks(p);
    for (hmm_block *b = from; b != to; b = next_of(p, b)) {
        if (!left--) {
            p->on_corrupt(p, b);
            return NULL;
        }
        placement_looked(p, b);
        if (block_size(b) >= size || !block_header_ok(b))
            return b; /* (a broken header: for the heap to report) */
    }
    return NULL;
}

static hmm_block *list_find_first(hmm_placement *p, size_t size)
{
    if (p->index && !p->seen)
        return p->index->first(p, size);
    return first_between(p, p->list, NULL, size);
}

static hmm_block *list_find_next(hmm_placement *p, size_t size)
{
    if (p->index && !p->seen)
        return p->index->next(p, size);
    hmm_block *start = p->rover ? p->rover : p->list;
    hmm_block *b = first_between(p, start, NULL, size);
    if (!b && start != p->list)
        b = first_between(p, p->list, start, size); /* wrap round to where we began */
    if (b)
        p->rover = next_of(p, b);
    return b;
}

static void list_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx)
{
    size_t left = placement_most_blocks(p);
    for (const hmm_block *b = p->list; b && link_plausible(p, b) && left--; b = next_raw(b))
        if (visit((hmm_block *)b, ctx))
            return;
}

static unsigned list_check(const hmm_placement *p)
{
    unsigned broken = 0;
    int rover_seen = p->rover == NULL;
    const hmm_block *prev = NULL;
    size_t left = placement_most_blocks(p);
    for (const hmm_block *b = p->list; b; prev = b, b = next_raw(b)) {
        if (!link_plausible(p, b) || !left--)
            return broken + 1; /* an overwritten link, or a cycle: cannot walk on */
        broken += prev_raw(b) != prev; /* the back links disagree */
        broken += block_in_use(b);     /* a block in use is filed */
        rover_seen |= b == p->rover;
    }
    broken += !rover_seen; /* the rover points off the list */
    if (p->index)
        broken += p->index->check(p);
    return broken;
}

/* Two policies, one list: they differ in find only. */
const hmm_placement_ops first_fit_placement = {
    .name = "first-fit",
    .insert = list_insert,
    .remove = list_remove,
    .find = list_find_first,
    .each = list_each,
    .check = list_check,
};

const hmm_placement_ops next_fit_placement = {
    .name = "next-fit",
    .insert = list_insert,
    .remove = list_remove,
    .find = list_find_next,
    .each = list_each,
    .check = list_check,
};
