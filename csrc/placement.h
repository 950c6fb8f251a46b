/*
 * placement.h - which free block serves a request.
 *
 * The heap keeps every free block in a placement structure and asks it for
 * a block of at least a given size.  The policy never calls the OS and keeps
 * no globals: all of its state lives in struct hmm_placement, inside the
 * heap.  Swapping the policy means swapping this file's implementation.
 */
#ifndef HMM_PLACEMENT_H
#define HMM_PLACEMENT_H

#include "block.h"

typedef struct hmm_placement {
    hmm_block *free_list;   /* first fit: one list of free blocks, LIFO */
} hmm_placement;

void placement_init(hmm_placement *p);
/* b is free and its header is final. */
void placement_insert(hmm_placement *p, hmm_block *b);
void placement_remove(hmm_placement *p, hmm_block *b);
/* A free block of at least `size` bytes, still in the structure; NULL if
 * none.  Never walks blocks in use. */
hmm_block *placement_find(const hmm_placement *p, size_t size);
/* Visit the free blocks (for stats and the checker); stops when visit
 * returns nonzero. */
void placement_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx);
/* Count broken links in the structure itself (for the checker). */
unsigned placement_check(const hmm_placement *p);

#endif /* HMM_PLACEMENT_H */
