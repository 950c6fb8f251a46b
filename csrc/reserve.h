/*
 * reserve.h - memory for the calls the heap cannot serve safely.
 *
 * Two kinds of call must not touch the process heap:
 *  - a signal handler that calls malloc (or free, ...) while its own thread
 *    is inside the allocator: the heap, or the thread's cache, may be
 *    half-way through a change, and the lock may be held by that very
 *    thread.  It is undefined behaviour, but real programs do it (printf in
 *    a SIGALRM handler), and glibc mostly gets away with it;
 *  - every call after a misuse report: the heap is no longer trusted, yet
 *    the program's SIGABRT handler (a crash reporter, a logger thread) must
 *    be able to allocate on its way out.
 * The reserve serves them without a lock: a bump pointer, moved with one
 * atomic add, through chunks mapped with mmap (a system call, safe in a
 * signal handler).  Its blocks are never reused: they are few (a handler's
 * stdio buffer, a crash report), and a free only marks them free, so that a
 * second free is still seen.
 *
 * A reserve block has a sealed header like a heap block (block.h), so a
 * pointer is recognised by the chunk it lies in and then by its seal:
 *
 *   chunk -> | chunk header | hdr | payload ... | hdr | payload ... | ...
 *                                 ^ 16-aligned, or as the caller asked
 */
#ifndef HMM_RESERVE_H
#define HMM_RESERVE_H

#include <stddef.h>
#include <stdint.h>

/* A block of `size` bytes aligned to `alignment` (a power of two, at least
 * 16), or NULL when no memory can be mapped. */
void *reserve_alloc(size_t size, size_t alignment);
/* The lowest and highest address of any chunk, 0 and 0 while there is
 * none: a pointer outside them is surely not the reserve's, which the hot
 * paths ask about every pointer they cannot place. */
#define RESERVE_HIDDEN __attribute__((visibility("hidden")))
extern RESERVE_HIDDEN uintptr_t reserve_low, reserve_high;

int reserve_holds_slow(const void *p);

/* Is p a payload the reserve handed out (in use or freed)? */
static inline int reserve_holds(const void *p)
{
    uintptr_t high = __atomic_load_n(&reserve_high, __ATOMIC_RELAXED);
    if (__builtin_expect(!high, 1)) /* no chunk yet: nearly always */
        return 0;
    uintptr_t low = __atomic_load_n(&reserve_low, __ATOMIC_RELAXED);
    return (uintptr_t)p - low < high - low && reserve_holds_slow(p);
}
/* The bytes the caller may use in the reserve block at p. */
size_t reserve_usable(const void *p);
/* Free the reserve block at p: 0; 1 when it was freed already; -1 when p
 * is no payload of the reserve's. */
int reserve_free(void *p);
/* Calls served, and bytes mapped, for the stats. */
uint64_t reserve_calls(void);
uint64_t reserve_bytes(void);
/* Count one more call served by the reserve without a block (a free of a
 * heap block that had to be left alone). */
void reserve_count_call(void);

#endif /* HMM_RESERVE_H */
