/*
 * stats.c - counters by index, and the derived ones filled in on demand.
 */
#include "heap.h"

#include <string.h>

static const char *const stat_names[] = {
#define HMM_STATS_NAME(name, what) #name,
    HMM_STATS_LIST(HMM_STATS_NAME)
#undef HMM_STATS_NAME
};

#define STAT_COUNT ((int)(sizeof stat_names / sizeof stat_names[0]))

_Static_assert(sizeof(struct hmm_stats) == sizeof stat_names / sizeof stat_names[0] * sizeof(uint64_t),
               "struct hmm_stats is the list, one uint64_t per entry");

size_t hmm_stats_size(void) { return sizeof(struct hmm_stats); }
int hmm_stats_count(void) { return STAT_COUNT; }

const char *hmm_stats_name(int index)
{
    return index >= 0 && index < STAT_COUNT ? stat_names[index] : NULL;
}

uint64_t hmm_stats_value(const hmm_stats *stats, int index)
{
    /* The struct is STAT_COUNT uint64_t fields in list order. */
    return index >= 0 && index < STAT_COUNT ? ((const uint64_t *)stats)[index] : 0;
}

static int count_free_block(hmm_block *b, void *ctx)
{
    struct hmm_stats *out = ctx;
    size_t size = block_size(b);
    out->free_blocks++;
    out->free_bytes += size;
    if (size > out->largest_free_block)
        out->largest_free_block = size;
    return 0;
}

void hmm_heap_stats(const hmm_heap *h, hmm_stats *out)
{
    memcpy(out, &h->counters, sizeof *out);
    out->free_blocks = out->free_bytes = out->largest_free_block = 0;
    placement_each(&h->placement, count_free_block, out);
    out->top_bytes = h->top ? block_size(h->top) : 0;
    if (h->top)
        count_free_block(h->top, out);
    out->segments = 0;
    for (const hmm_segment *s = h->segments; s; s = s->next)
        out->segments++;
    out->heap_start = (uintptr_t)h->start;
    out->heap_end = (uintptr_t)h->end;
    out->heap_break = (uintptr_t)h->source->move_break(h->source, 0);
    out->examined_blocks = h->placement.examined;
}
