/*
 * heap.h - the heap object, shared by the core's files (not public).
 *
 * A heap is a list of segments, each an address range of blocks laid end to
 * end and closed by an end marker (see block.h):
 *
 *   segment -> +----------------+-------+-------+-----+-------+------------+
 *              | segment header | block | block | ... | block | end marker |
 *              +----------------+-------+-------+-----+-------+------------+
 *
 * Normally there is one segment, growing and shrinking with the break.
 * Another one appears when the break cannot grow (it is then mapped
 * elsewhere) or when something else moved the break (the heap carries on
 * above it, non-contiguously).
 */
#ifndef HMM_HEAP_H
#define HMM_HEAP_H

#include "block.h"
#include "call.h"
#include "check_mode.h"
#include "hmm.h"
#include "placement.h"
#include "source.h"
#include "stats.h"

typedef struct hmm_segment {
    struct hmm_segment *next;
    size_t size;            /* from this header to the end of the end marker */
    int mapped;             /* came from source->map, not from the break */
    int pad_;
} hmm_segment;

#define HMM_SEGMENT_HEADER_SIZE 32u   /* keeps the first block 16-aligned */

static inline hmm_block *segment_first_block(const hmm_segment *s)
{
    return (hmm_block *)((char *)s + HMM_SEGMENT_HEADER_SIZE);
}
static inline hmm_block *segment_end_marker(const hmm_segment *s)
{
    return (hmm_block *)((char *)s + s->size - HMM_END_MARKER_SIZE);
}
static inline char *segment_end(const hmm_segment *s) { return (char *)s + s->size; }

#define HMM_MESSAGE_MAX 200

/* The addresses of the mapped (large) blocks: see large.c. */
#define HMM_FREED_LARGE_KEPT 64

typedef struct hmm_large_registry {
    uintptr_t *slots;   /* payload addresses; 0 is an empty slot */
    size_t capacity;    /* a power of two, or 0 before the first one */
    size_t count;
    /* The last blocks unmapped, so that freeing one again is named a
     * double free rather than an invalid pointer: a ring of addresses and
     * sizes. */
    uintptr_t freed[HMM_FREED_LARGE_KEPT];
    size_t freed_size[HMM_FREED_LARGE_KEPT];
    unsigned freed_next;
} hmm_large_registry;

/* Granules of address space -> the first segment there: segment_map.c. */
typedef struct hmm_segment_map_slot {
    uintptr_t granule;
    hmm_segment *segment; /* NULL: an empty slot */
} hmm_segment_map_slot;

typedef struct hmm_segment_map {
    hmm_segment_map_slot *slots;
    size_t capacity;    /* a power of two, or 0: no map (walk the list) */
    size_t count;
    size_t segments;    /* segments linked so far */
    int failed;         /* no map can be had: the list is walked for good */
} hmm_segment_map;

struct hmm_heap {
    hmm_source *source;
    hmm_segment *segments;       /* every segment, newest first */
    hmm_segment *break_segment;  /* the one ending at the break we set, if any */
    hmm_segment *newest;         /* the segment created last: most blocks are there */
    size_t mapped_segment_size;  /* the next mapped segment's size: doubles */
    char *start;                 /* lowest address of the first break segment */
    char *end;                   /* end of break_segment */
    /* The free block at the top of the break segment, if any: the
     * "wilderness".  It is kept out of placement and used only when no
     * other free block fits, so that it stays large, a block that grows by
     * realloc at the top can grow in place, and the break can be moved back
     * down.  All other free blocks are in placement. */
    hmm_block *top;
    hmm_placement placement;
    /* Where trimming gave memory back (a union of ranges): a pointer there
     * that is in no segment now was a block, freed already. */
    char *released_low, *released_high;

    hmm_large_registry large;    /* blocks with a mapping of their own */
    hmm_segment_map segment_map; /* which segment holds an address */

    size_t grow_min;             /* least the heap asks its source for */
    size_t trim_threshold;       /* give the top back once this much is free */
    size_t top_pad;              /* ...but keep this much */
    /* ...and, while the heap is cycling (grew again within trim_delay_ms
     * of a trim), not until it has not grown for trim_delay_ms (heap.c,
     * trim_due); 0 in simulated heaps, which know no time, but for a
     * replay's, which runs on the recorded program's (clock_ms) */
    uint64_t trim_delay_ms, last_grow_ms, last_trim_ms;
    /* Not 0: the time it is now, in ms, for the trim delay, instead of the
     * system's clock: a replay sets the recorded program's (replay.c), so
     * that its heap trims when the program's did. */
    uint64_t clock_ms;
    int cycling;
    size_t mmap_threshold;       /* requests this big get their own mapping */
    int thresholds_fixed;        /* set by the user: do not adapt them */
    size_t mmap_max;             /* at most this many mapped blocks (M_MMAP_MAX) */
    int perturb;                 /* M_PERTURB: new memory reads ~perturb, freed perturb; 0 off */

    /* Nonzero when thread caches park blocks of this heap: a parked block
     * is in use to the heap and holds this secret in its second payload
     * word (the heap itself never writes there while a block is in use). */
    uint64_t cache_key;
    /* Under the lock: is b, which holds the mark, really parked in one of
     * the caches?  The mark is a hint (a program can copy it); a double
     * free is named only when the block is found in a bin. */
    int (*cache_holds)(hmm_heap *h, const hmm_block *b);
    /* Set with cache_key, called under the lock.  Parked blocks are in use
     * to the heap, and a program that frees everything leaves its last
     * frees parked at the top, where they keep the break from coming down.
     * So whenever the bytes in use have halved (below drain_mark) the heap
     * calls stop_parking: the calling thread's parked blocks come back and
     * its cache parks no more; then the heap trims (drain_parked in
     * heap.c).  The next allocation ends the drain (resume_parking). */
    void (*stop_parking)(hmm_heap *h);
    void (*resume_parking)(hmm_heap *h);
    /* Set with cache_key too: before the heap grows, the blocks the caches'
     * shared depot keeps apart (unmerged, in use to the heap) come back to
     * it, as glibc consolidates its fast bins before it grows; returns
     * how many came back. */
    size_t (*reclaim)(hmm_heap *h);
    size_t drain_mark;
    int draining;                /* drained, and nothing allocated since */

    /* The call being served (call.h), for misuse reports: CALL_FREE is
     * named "free()", ... */
    enum hmm_call call;
    /* Called on misuse, after h->fault and h->message are set.  The
     * process heap's handler prints and aborts; NULL just records. */
    void (*on_misuse)(hmm_heap *h);
    hmm_fault fault;
    char message[HMM_MESSAGE_MAX];

    struct hmm_stats counters;   /* the kept counters; derived ones are 0 */

    /* Check mode (check_mode.c): 0 off, 1 canaries and fills, 2 also the
     * whole heap every check_every operations. */
    int check_level;
    unsigned check_every;
    unsigned check_countdown;
};

/* Constants, the reasons beside them.  The defaults of what HMM_* options
 * set (trim threshold, top pad, mmap threshold) are in the options table,
 * options.h. */
#define HMM_DEFAULT_GROW_MIN (128u * 1024)       /* one break move serves many mallocs */
#define HMM_MAP_SEGMENT_MIN (1024u * 1024)       /* mapped when the break is stuck... */
#define HMM_MAP_SEGMENT_MAX (64u * 1024 * 1024)  /* ...doubling up to this */

void heap_init(hmm_heap *h, hmm_source *source);

/* The libc call about to be served, for the misuse reports of what the
 * caller does to the heap before the call's own entry point (a flush of
 * parked blocks before a free, a drain before malloc_trim). */
static inline void heap_serving(hmm_heap *h, enum hmm_call call) { h->call = call; }

/* Set the process's secret (block.h) from `seed`, unless it is set already;
 * call before the first heap is made.  heap_init() falls back on a weaker
 * secret of its own. */
void heap_seed_secret(uint64_t seed);

/* validate.c: the block behind a caller's pointer, validated in O(1) (plus one step per
 * segment): inside a segment, 16-aligned, a sealed header, in use, not
 * parked in a thread cache, a next header that agrees.  On failure
 * the misuse is reported (naming h->call) and NULL is returned; only then
 * may it take longer, to say exactly what the pointer was. */
hmm_block *heap_block_from_user(hmm_heap *h, const void *ptr);

/* Allocate and free without counting a call (the thread caches call these
 * on behalf of calls they count themselves).  b comes validated. */
void *heap_allocate(hmm_heap *h, size_t size);
void heap_free_block(hmm_heap *h, hmm_block *b);

/* The segment holding address p, or NULL: O(1) however many segments. */
hmm_segment *heap_segment_of(const hmm_heap *h, const void *p);

/* segment_map.c: keep the map up to date as a segment is linked, grows
 * (it ended at old_end) or shrinks; find the segment holding p (NULL:
 * none) when segment_map_usable(h). */
void segment_map_add(hmm_heap *h, hmm_segment *s);
void segment_map_grown(hmm_heap *h, hmm_segment *s, const char *old_end);
void segment_map_shrunk(hmm_heap *h, hmm_segment *s, const char *old_end);
static inline int segment_map_usable(const hmm_heap *h) { return h->segment_map.capacity != 0; }
hmm_segment *segment_map_find(const hmm_heap *h, const void *p);

/* large.c */
/* Does a request of `size` bytes get a mapping of its own? */
static inline int large_wanted(const hmm_heap *h, size_t size)
{
    return size >= h->mmap_threshold && h->source->map && h->counters.mapped_blocks < h->mmap_max;
}
void *large_alloc(hmm_heap *h, size_t size, size_t alignment);
void large_free(hmm_heap *h, hmm_block *b);
/* Resize a mapped block for `size` bytes; the block (maybe moved) or NULL,
 * in which case b is untouched. */
hmm_block *large_resize(hmm_heap *h, hmm_block *b, size_t size);
int large_is_block(const hmm_heap *h, const void *payload);
void large_each(const hmm_heap *h, void (*visit)(hmm_block *b, void *ctx), void *ctx);

/* large.c: a mapped block freed lately, whose address free() or realloc()
 * got again: its size, or 0 if none. */
size_t large_recently_freed(const hmm_heap *h, const void *payload);
/* The mapped block whose bytes hold p, or NULL (a walk of the registry:
 * for explaining a bad pointer only). */
const void *large_block_holding(const hmm_heap *h, const void *p);

/* misuse.c: report a misuse during h->call, then call h->on_misuse.
 *   ptr      the pointer at fault (or the address written, for overflows
 *            and writes after free)
 *   block    the block concerned, when there is one: for an invalid
 *            pointer, the block it points inside (NULL: outside the heap;
 *            == ptr: inside free memory); for an overflow, the block
 *   n        a size: the block's (double free, use after free, inside a
 *            block), or the size asked for (overflow; SIZE_MAX if unknown) */
void misuse_report(hmm_heap *h, hmm_fault fault, const void *ptr, const void *block, size_t n);
/* The same, with a ready-made description (the heap check's). */
void misuse_report_text(hmm_heap *h, hmm_fault fault, const char *text);

#endif /* HMM_HEAP_H */
