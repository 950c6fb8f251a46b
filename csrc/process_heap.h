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

#include <stdint.h>

/* The heap with its lock held; NULL when the heap was given up after a
 * misuse report (nothing may touch it then: the reserve serves instead). */
hmm_heap *process_heap_lock(void);
void process_heap_unlock(void);
/* The heap with its lock held if the lock was free; else NULL, with *busy
 * set when another thread holds it (and 0 when the heap was given up). */
hmm_heap *process_heap_lock_if_free(int *busy);
/* Copy the placement policy and the trimming settings into another heap
 * (an arena); read without the lock. */
void process_heap_settings(hmm_heap *into);
/* Requests from this size get a mapping of their own (read without the lock). */
size_t process_heap_mmap_threshold(void);
/* Report `line` and give the heap up, as process_heap_fatal, but return:
 * the caller has a lock of its own to give back before it aborts. */
void process_heap_give_up(const char *line);
int process_heap_given_up(void);
int process_heap_check_level(void);
/* Report `line` (a whole line, "hmm: ..."), give the heap up and abort;
 * for misuse found outside the heap. */
void process_heap_fatal(const char *line) __attribute__((noreturn));
/* The heap's counters (the thread caches' and the arenas' are added by the
 * caller), and also(h, ctx) under the same hold of the lock, so that what
 * it reads of the heap (and of the caches) agrees with the counters. */
struct hmm_stats;
void process_heap_stats_with(struct hmm_stats *out, void (*also)(hmm_heap *h, void *ctx), void *ctx);

/* Published at the unlock after they changed, for readers without the lock
 * (the thread caches' fast free): the payloads of the newest segment's blocks (normally
 * the one at the break) lie in [heap_low, heap_low + 16 * heap_units), and
 * those of the oldest one, if that is another, in [heap_low2, heap_low2 +
 * 16 * heap_units2) (a heap whose break got stuck has those two, mostly).
 * The spans are in 16-byte units so that one test also rejects a
 * misaligned pointer (thread_cache.h, cache_covers).  Hidden, so that the
 * fast paths read each with one instruction. */
extern __attribute__((visibility("hidden"))) uintptr_t heap_low, heap_units, heap_low2, heap_units2;
/* The heap's size (its counter heap_size), published with the bounds: the
 * tracer records it when it changed (trace_format.h, HEAP). */
extern __attribute__((visibility("hidden"))) uintptr_t heap_size_published;

/* Set the heap up and apply the HMM_* options (the library's constructor:
 * the environment may not have been there at the first call); returns how
 * many blocks a thread cache may park per class (HMM_TCACHE; 0 in check
 * mode, where every call must reach the checks). */
uint32_t process_heap_start(void);
/* Called by the thread that gives the heap up, after its report: the
 * thread caches forget what the thread may have been half-way through, and
 * the trace records the report (up to two hooks). */
void process_heap_on_give_up(void (*fn)(const char *message));
/* Count a request refused before it reached the heap (failed_calls). */
void process_heap_count_refused(void);

/* For fork.c: hold the lock across fork (prepare returns 0 when the heap
 * was given up, and holds nothing then), and release it on either side
 * (the child's publishes the bounds again: its caches changed). */
int process_heap_fork_prepare(void);
void process_heap_fork_parent(void);
void process_heap_fork_child(void);

#endif /* HMM_PROCESS_HEAP_H */
