/*
 * arena.h - more heaps, each with its own lock, for the medium and aligned
 * requests of threads that meet on the process heap's lock; see arena.c.
 */
#ifndef HMM_ARENA_H
#define HMM_ARENA_H

#include "heap.h"
#include "stats.h"

#include <stddef.h>

/* At most 8 per core, as glibc makes on 64-bit machines, and never more
 * than ARENA_MAX (mallopt(M_ARENA_MAX) sets the cap). */
#define ARENA_MAX 64
#define ARENAS_PER_CORE 8
#define ARENA_SPAN ((size_t)64 << 20)  /* address space each reserves, as glibc's */

/* The heap for a medium or aligned request of `size` bytes from this
 * thread, locked: the thread's arena, or the process heap (NULL when the
 * heap was given up).  Called without any heap lock held.  `may_move`: the
 * thread's caches are on (no arenas without them: HMM_TCACHE=0 and check
 * mode keep one heap). */
hmm_heap *heap_lock_for_request(size_t size, int may_move);
/* The heap holding ptr, locked: its arena's when it lies in one, else the
 * process heap (NULL when given up). */
hmm_heap *heap_lock_for_pointer(const void *ptr);
/* Give back the lock of a heap from either function above. */
void heap_unlock(hmm_heap *h);
/* Is h an arena, not the process heap? */
int heap_is_arena(const hmm_heap *h);
/* The thread is exiting: its arena is free for the next thread to take. */
void arena_thread_exit(void);
/* Does p lie in an arena?  No lock: the arenas' spans never change. */
int arena_holds(const void *p);

/* Call apply(h, ctx) for every arena, under its lock (mallopt, malloc_trim). */
void arenas_each(void (*apply)(hmm_heap *h, void *ctx), void *ctx);
/* mallopt(M_ARENA_MAX). */
void arenas_set_max(unsigned max);

/* fork: every arena's lock held across it, after the process heap's. */
void arenas_fork_prepare(void);
void arenas_fork_parent(void);
void arenas_fork_child(void);

#endif /* HMM_ARENA_H */
