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

#define HMM_MESSAGE_MAX 160

/* The addresses of the mapped (large) blocks: see large.c. */
typedef struct hmm_large_registry {
    uintptr_t *slots;   /* payload addresses; 0 is an empty slot */
    size_t capacity;    /* a power of two, or 0 before the first one */
    size_t count;
} hmm_large_registry;

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

    hmm_large_registry large;    /* blocks with a mapping of their own */

    size_t grow_min;             /* least the heap asks its source for */
    size_t trim_threshold;       /* give the top back once this much is free */
    size_t top_pad;              /* ...but keep this much */
    size_t mmap_threshold;       /* requests this big get their own mapping */
    int thresholds_fixed;        /* set by the user: do not adapt them */

    /* Nonzero when thread caches park blocks of this heap: a parked block
     * is in use to the heap and holds this secret in its second payload
     * word (the heap itself never writes there while a block is in use). */
    uint64_t cache_key;

    /* Called on misuse, after h->fault and h->message are set.  The
     * process heap's handler prints and aborts; NULL just records. */
    void (*on_misuse)(hmm_heap *h);
    hmm_fault fault;
    char message[HMM_MESSAGE_MAX];

    struct hmm_stats counters;   /* the kept counters; derived ones are 0 */
};

/* Defaults, the reasons beside them. */
#define HMM_DEFAULT_GROW_MIN (128u * 1024)       /* one break move serves many mallocs */
#define HMM_DEFAULT_TRIM_THRESHOLD (256u * 1024) /* don't hand back small change */
#define HMM_DEFAULT_TOP_PAD (64u * 1024)         /* nor what we'd ask for again soon */
#define HMM_MAP_SEGMENT_MIN (1024u * 1024)       /* mapped when the break is stuck... */
#define HMM_MAP_SEGMENT_MAX (64u * 1024 * 1024)  /* ...doubling up to this */
#define HMM_DEFAULT_MMAP_THRESHOLD (128u * 1024) /* glibc's: below, a mapping costs too much */

void heap_init(hmm_heap *h, hmm_source *source);

/* The block behind a caller's pointer, validated in O(1) (plus one step per
 * segment).  On failure the misuse is reported (naming `call`) and NULL is
 * returned. */
hmm_block *heap_block_from_user(hmm_heap *h, const char *call, const void *ptr);

/* Allocate and free without counting a call (the thread caches call these
 * on behalf of calls they count themselves).  b comes validated. */
void *heap_allocate(hmm_heap *h, size_t size);
void heap_free_block(hmm_heap *h, hmm_block *b);

/* The segment holding address p, or NULL. */
hmm_segment *heap_segment_of(const hmm_heap *h, const void *p);

/* large.c */
int large_wanted(const hmm_heap *h, size_t size);
void *large_alloc(hmm_heap *h, size_t size, size_t alignment);
void large_free(hmm_heap *h, hmm_block *b);
/* Resize a mapped block for `size` bytes; the block (maybe moved) or NULL,
 * in which case b is untouched. */
hmm_block *large_resize(hmm_heap *h, hmm_block *b, size_t size);
int large_is_block(const hmm_heap *h, const void *payload);
void large_each(const hmm_heap *h, void (*visit)(hmm_block *b, void *ctx), void *ctx);

/* misuse.c */
void misuse_report(hmm_heap *h, const char *call, hmm_fault fault, const void *ptr, size_t block_size);

#endif /* HMM_HEAP_H */
