/*
 * source.h - where a heap's memory comes from.
 *
 * A heap never calls the OS itself; it asks its source.  Two sources exist:
 *  - the OS source (source_os.c): the process break through sbrk(2), and
 *    mmap(2) for when the break cannot grow;
 *  - the simulated source (source_simulated.c): a caller's buffer with a
 *    fake break, "in user space without kernel support".
 *
 * The contract of each primitive:
 *  move_break(delta): move the break by delta bytes (negative gives memory
 *      back) exactly as sbrk(2) does, returning the old break; delta 0 asks
 *      where the break is.  Returns NULL when the break cannot move, leaving
 *      it where it was.
 *  map(bytes): fresh memory somewhere other than the break, `bytes` a
 *      multiple of page_size; NULL when none can be had.  NULL function
 *      pointer: this source cannot map.
 *  unmap(addr, bytes): give back what map returned.
 *  remap(addr, old_bytes, new_bytes): resize a mapping, moving it if need
 *      be; returns its address or NULL (the old mapping is then intact).
 *  discard(addr, bytes): the contents of these whole pages are no longer
 *      needed: give the physical memory back but keep the addresses.
 *  Any of map, unmap, remap, discard may be NULL: not supported.
 * A source never decides policy: how much to ask for is the heap's choice.
 */
#ifndef HMM_SOURCE_H
#define HMM_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hmm_source hmm_source;
struct hmm_source {
    void *(*move_break)(hmm_source *self, intptr_t delta);
    void *(*map)(hmm_source *self, size_t bytes);
    void (*unmap)(hmm_source *self, void *addr, size_t bytes);
    void *(*remap)(hmm_source *self, void *addr, size_t old_bytes, size_t new_bytes);
    void (*discard)(hmm_source *self, void *addr, size_t bytes);
    size_t page_size;
};

/* The simulated source: [base, limit) is the whole address space; the fake
 * break starts at base. */
typedef struct hmm_simulated_source {
    hmm_source source;
    char *base;
    char *brk;
    char *limit;     /* the break's end ... */
    char *maps;      /* ... where the mappings end (they grow down from `end`) ... */
    char *end;       /* ... and the buffer's */
} hmm_simulated_source;

void simulated_source_init(hmm_simulated_source *sim, void *base, size_t bytes);
/* The same, with mappings too: the last `map_bytes` of the buffer are
 * handed out as mappings (large blocks of their own, the heap's tables),
 * down from its end, so that they leave the break's blocks where a real
 * process's mappings leave them (hmm_replay's heaps). */
void simulated_source_init_with_maps(hmm_simulated_source *sim, void *base, size_t bytes,
                                     size_t map_bytes);

/* The OS source: there is only one process break, so only one instance.
 * Its primitives run under the process heap's lock. */
hmm_source *os_source(void);
/* Fresh memory from mmap, `bytes` a multiple of the page size, or NULL:
 * touches none of the OS source's state, so it needs no lock and may run in
 * a signal handler (the reserve's chunks). */
void *os_map_unlocked(size_t bytes);

#endif /* HMM_SOURCE_H */
