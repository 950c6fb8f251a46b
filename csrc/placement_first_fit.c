/*
 * placement_first_fit.c - first fit over an explicit free list.
 *
 * The seed's policy: take the first free block that is big enough.  The
 * list is doubly linked through the free blocks themselves (next_free,
 * prev_free), so insert and remove are O(1) and the search only ever looks
 * at free blocks.  Freed blocks go to the front (LIFO), which keeps free()
 * O(1); the search is O(number of free blocks).
 */
#include "placement.h"

#include <stddef.h>

void placement_init(hmm_placement *p)
{
    p->free_list = NULL;
}

void placement_insert(hmm_placement *p, hmm_block *b)
{
    b->prev_free = NULL;
    b->next_free = p->free_list;
    if (p->free_list)
        p->free_list->prev_free = b;
    p->free_list = b;
}

void placement_remove(hmm_placement *p, hmm_block *b)
{
    if (b->prev_free)
        b->prev_free->next_free = b->next_free;
    else
        p->free_list = b->next_free;
    if (b->next_free)
        b->next_free->prev_free = b->prev_free;
}

hmm_block *placement_find(const hmm_placement *p, size_t size)
{
    for (hmm_block *b = p->free_list; b; b = b->next_free)
        if (block_size(b) >= size)
            return b;
    return NULL;
}

void placement_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx)
{
    for (hmm_block *b = p->free_list; b; b = b->next_free)
        if (visit(b, ctx))
            return;
}

unsigned placement_check(const hmm_placement *p)
{
    unsigned broken = 0;
    const hmm_block *prev = NULL;
    for (const hmm_block *b = p->free_list; b; prev = b, b = b->next_free) {
        if (b->prev_free != prev)
            broken++;          /* the list's back links disagree */
        if (block_in_use(b))
            broken++;          /* a block in use is on the free list */
    }
    return broken;
}
