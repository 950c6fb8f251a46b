/* replay.c - see replay.h. */
#include "replay.h"

#include "heap.h"
#include "hmm.h"
#include "list_index.h"
#include "source.h"
#include "trace_format.h"

#include <string.h>

#define REPLAY_PAGE 4096u /* valloc's and pvalloc's page, as the simulated source has it */

/* Free the block call j returned, if it is still there. */
static void release(hmm_heap *h, const hmm_replay_calls *calls, int64_t j, uint64_t *block,
                    hmm_replay_result *out)
{
    if (j < 0 || !block[j])
        return;
    hmm_heap_free(h, (void *)(uintptr_t)block[j]);
    block[j] = 0;
    out->in_use -= calls->size[j];
}

/* The block for an allocating call i, or NULL. */
static void *allocate(hmm_heap *h, const hmm_replay_calls *calls, uint64_t i)
{
    uint64_t size = calls->size[i], alignment = calls->alignment[i];
    switch (calls->tag[i]) {
    case TRACE_CALLOC: case TRACE_HMM_CALLOC:
        return hmm_heap_calloc(h, 1, size);
    case TRACE_MEMALIGN: case TRACE_ALIGNED_ALLOC: case TRACE_POSIX_MEMALIGN:
        return hmm_heap_memalign(h, alignment, size);
    case TRACE_VALLOC:
        return hmm_heap_memalign(h, REPLAY_PAGE, size);
    case TRACE_PVALLOC:
        return hmm_heap_memalign(h, REPLAY_PAGE, size ? (size + REPLAY_PAGE - 1) / REPLAY_PAGE * REPLAY_PAGE : REPLAY_PAGE);
    case TRACE_HMM_ALLOC:
        return size ? hmm_heap_alloc(h, size) : NULL;
    default:
        return hmm_heap_alloc(h, size);
    }
}

uint64_t hmm_replay(struct hmm_heap *h, const hmm_replay_calls *calls, uint64_t from, uint64_t to,
                    uint64_t *block, uint64_t *placed, uint64_t *heap_size, hmm_replay_result *out)
{
    if (to > calls->n)
        to = calls->n;
    if (!calls->time_ms) /* no clock recorded: trim at once, as glibc does */
        h->trim_delay_ms = 0;
    /* First and next fit: the same choices from an index of their list,
     * kept for this run only (a checkpoint saves the heap between runs). */
    int indexed = list_index_attach(&h->placement);
    for (uint64_t i = from; i < to; i++) {
        void *p = NULL;
        h->placement.seen_n = 0; /* hmm_replay_watch: this call's */
        if (calls->time_ms)
            h->clock_ms = calls->time_ms[i] + 1; /* 0 would mean the system's clock */
        switch (calls->tag[i]) {
        case TRACE_MALLOC: case TRACE_CALLOC: case TRACE_MEMALIGN: case TRACE_POSIX_MEMALIGN:
        case TRACE_ALIGNED_ALLOC: case TRACE_VALLOC: case TRACE_PVALLOC:
        case TRACE_HMM_ALLOC: case TRACE_HMM_CALLOC:
            out->allocations++;
            p = allocate(h, calls, i);
            out->failed += !p && calls->ret[i];
            break;
        case TRACE_FREE: case TRACE_HMM_FREE: case TRACE_FREE_SIZED: case TRACE_FREE_ALIGNED_SIZED:
            release(h, calls, calls->frees[i], block, out);
            break;
        case TRACE_REALLOC: case TRACE_REALLOCARRAY: case TRACE_HMM_REALLOC: {
            int64_t j = calls->frees[i];
            if (!calls->ret[i] && calls->size[i]) /* it failed: the old block stays */
                break;
            out->allocations++;
            void *old = j >= 0 ? (void *)(uintptr_t)block[j] : NULL;
            if (!calls->size[i]) { /* realloc(p, 0): a free */
                release(h, calls, j, block, out);
                break;
            }
            p = hmm_heap_realloc(h, old, calls->size[i]);
            if (!p) {
                out->failed++;
                break;
            }
            if (old) {
                block[j] = 0;
                out->in_use -= calls->size[j];
            }
            break;
        }
        default: /* the questions: nothing changes */
            break;
        }
        if (p) {
            block[i] = (uintptr_t)p;
            if (placed)
                placed[i] = (uintptr_t)p;
            out->in_use += calls->size[i];
        }
        if (out->in_use > out->peak_in_use) {
            out->peak_in_use = out->in_use;
            out->peak_in_use_call = i;
        }
        if (h->counters.heap_size > out->peak_heap_size) {
            out->peak_heap_size = h->counters.heap_size;
            out->peak_heap_call = i;
        }
        if (heap_size)
            heap_size[i] = h->counters.heap_size;
        uint64_t footprint = h->counters.heap_size + h->counters.mapped_bytes;
        if (footprint > out->peak_footprint ||
            (footprint == out->peak_footprint && out->in_use > out->in_use_at_peak_footprint)) {
            out->peak_footprint = footprint;
            out->peak_footprint_call = i;
            out->in_use_at_peak_footprint = out->in_use;
        }
        out->calls++;
    }
    if (indexed)
        list_index_detach(&h->placement);
    return to;
}

uint64_t hmm_replay_blocks(const struct hmm_heap *h, uint64_t below, uint64_t *address,
                           uint64_t *size, uint8_t *used, uint64_t cap)
{
    hmm_walk_cursor cursor = {0};
    hmm_block_info info;
    uint64_t n = 0;
    while (hmm_heap_walk(h, &cursor, &info)) {
        if ((uintptr_t)info.address >= below)
            continue;
        if (n < cap) {
            address[n] = (uintptr_t)info.address;
            size[n] = info.size;
            used[n] = (uint8_t)info.used;
        }
        n++;
    }
    return n;
}

void hmm_replay_watch(struct hmm_heap *h, uint64_t *seen, uint32_t cap)
{
    h->placement.seen = seen;
    h->placement.seen_cap = seen ? cap : 0;
    h->placement.seen_n = 0;
}

uint32_t hmm_replay_watched(const struct hmm_heap *h)
{
    return h->placement.seen_n;
}

/* ---- Checkpoints --------------------------------------------------------- */

/* The heap's two parts in its buffer: [low, low + *low_bytes) from its
 * control block (the buffer's start) to the break, and the mappings,
 * [*maps, *maps + *map_bytes) up to the buffer's end. */
static void state_parts(const hmm_heap *h, uint64_t *low_bytes, const char **maps, uint64_t *map_bytes)
{
    const hmm_simulated_source *sim = (const hmm_simulated_source *)h->source;
    *low_bytes = (uint64_t)(sim->brk - (const char *)h);
    *maps = sim->maps;
    *map_bytes = (uint64_t)(sim->end - sim->maps);
}

uint64_t hmm_replay_state_size(const struct hmm_heap *h)
{
    uint64_t low, high;
    const char *maps;
    state_parts(h, &low, &maps, &high);
    return 2 * sizeof(uint64_t) + low + high;
}

void hmm_replay_state_save(const struct hmm_heap *h, void *out)
{
    uint64_t sizes[2];
    const char *maps;
    state_parts(h, &sizes[0], &maps, &sizes[1]);
    char *to = out;
    memcpy(to, sizes, sizeof sizes);
    memcpy(to + sizeof sizes, h, sizes[0]);
    memcpy(to + sizeof sizes + sizes[0], maps, sizes[1]);
}

void hmm_replay_state_restore(struct hmm_heap *h, const void *saved)
{
    uint64_t sizes[2];
    const char *from = saved;
    memcpy(sizes, from, sizeof sizes);
    memcpy((char *)h, from + sizeof sizes, sizes[0]); /* the control block too: maps is the saved one now */
    const hmm_simulated_source *sim = (const hmm_simulated_source *)h->source;
    memcpy(sim->maps, from + sizeof sizes + sizes[0], sizes[1]);
}
