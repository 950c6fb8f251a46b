/*
 * stats.h - the one list of HMM's counters.
 *
 * Each X(name, what) line becomes a field of struct hmm_stats, a name that
 * bindings and reports read by index, and a line of the exit report.  Add a
 * counter here and everything else follows.
 */
#ifndef HMM_STATS_H
#define HMM_STATS_H

#include <stdint.h>

#define HMM_STATS_LIST(X)                                                     \
    X(alloc_calls,        "allocations (malloc and friends)")                 \
    X(free_calls,         "frees of a non-NULL pointer")                      \
    X(realloc_calls,      "reallocations")                                    \
    X(calloc_calls,       "zeroed allocations")                               \
    X(memalign_calls,     "aligned allocations")                              \
    X(failed_calls,       "requests that returned NULL")                      \
    X(blocks_in_use,      "blocks handed out and not yet freed")              \
    X(bytes_in_use,       "bytes in those blocks, headers included, mapped ones too") \
    X(peak_bytes_in_use,  "highest bytes_in_use seen")                        \
    X(heap_size,          "bytes in the heap's segments (mapped blocks aside)") \
    X(peak_heap_size,     "highest heap_size seen")                           \
    X(free_blocks,        "free blocks")                                      \
    X(free_bytes,         "bytes in free blocks")                             \
    X(largest_free_block, "size of the largest free block")                   \
    X(top_bytes,          "free bytes at the top of the heap, which trimming gives back") \
    X(cached_blocks,      "freed blocks parked in thread caches")             \
    X(cached_bytes,       "bytes in those blocks")                            \
    X(mapped_blocks,      "large blocks with a mapping of their own")         \
    X(mapped_bytes,       "bytes in those mappings")                          \
    X(segments,           "separate address ranges making up the heap")       \
    X(arenas,             "heaps beside the process heap, for threads that met on its lock") \
    X(grow_calls,         "times the heap asked its source for memory")       \
    X(trim_calls,         "times the heap gave memory back")                  \
    X(heap_start,         "lowest address of the heap")                       \
    X(heap_end,           "end of the segment at the break")                  \
    X(heap_break,         "the source's current break")                       \
    X(reserve_calls,      "calls served by the lock-free reserve (signal handlers re-entering, after a misuse report)") \
    X(reserve_bytes,      "bytes the reserve mapped")                         \
    X(examined_blocks,    "free blocks the placement policy looked at to serve requests")

struct hmm_stats {
#define HMM_STATS_FIELD(name, what) uint64_t name;
    HMM_STATS_LIST(HMM_STATS_FIELD)
#undef HMM_STATS_FIELD
};

#endif /* HMM_STATS_H */
