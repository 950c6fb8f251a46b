/*
 * process_heap.h - the one heap of the process, behind one lock.
 *
 * Every libc name and the seed API (malloc_api.c) go through here when
 * their thread cache cannot serve them:
 * process_heap_lock() returns the heap, set up on first use, with the lock
 * held; process_heap_unlock() releases it.  Misuse on this heap prints its
 * one-line report to stderr and aborts.
 */
#ifndef HMM_PROCESS_HEAP_H
#define HMM_PROCESS_HEAP_H

#include "hmm.h"

hmm_heap *process_heap_lock(void);
void process_heap_unlock(void);
/* A thread called `call` from a signal handler while inside
 * `interrupted`: the heap may be half-way through a change, and its lock
 * held by this very thread.  Say so and abort, rather than deadlock or
 * corrupt the heap. */
void process_heap_reentered(const char *call, const char *interrupted) __attribute__((noreturn));
/* The heap's counters with the thread caches' added in. */
struct hmm_stats;
void process_heap_stats(struct hmm_stats *out);

#endif /* HMM_PROCESS_HEAP_H */
