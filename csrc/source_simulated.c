/*
 * source_simulated.c - a fake break over a caller's buffer.
 *
 * This is sbrk(2) with the kernel taken out: the "address space" is the
 * buffer, the break is a pointer into it, and running past the end is the
 * ENOMEM that a real break would hit at its rlimit.
 */
#include "source.h"

#include <string.h>

#define SIMULATED_PAGE_SIZE 4096u

static void *simulated_move_break(hmm_source *self, intptr_t delta)
{
    hmm_simulated_source *sim = (hmm_simulated_source *)self;
    char *old = sim->brk;
    if (delta > 0 && (uintptr_t)delta > (uintptr_t)(sim->limit - old))
        return NULL;
    if (delta < 0 && (uintptr_t)(-delta) > (uintptr_t)(old - sim->base))
        return NULL;
    sim->brk = old + delta;
    return old;
}

/* Mappings: a stack growing down from the buffer's end.  Unmapping the
 * newest gives its bytes back; an older one's stay taken (the space is a
 * simulation's: enough of it is asked for). */
static void *simulated_map(hmm_source *self, size_t bytes)
{
    hmm_simulated_source *sim = (hmm_simulated_source *)self;
    if (bytes > (size_t)(sim->maps - sim->limit))
        return NULL;
    sim->maps -= bytes;
    memset(sim->maps, 0, bytes); /* fresh mappings are zero */
    return sim->maps;
}

static void simulated_unmap(hmm_source *self, void *addr, size_t bytes)
{
    hmm_simulated_source *sim = (hmm_simulated_source *)self;
    if ((char *)addr == sim->maps)
        sim->maps += bytes;
}

/* mremap with MREMAP_MAYMOVE, as the OS source's: a new mapping, the
 * bytes copied, the old one given back.  A real mapping grows or moves
 * without the heap freeing the block, and so must this one: a freed mapped
 * block moves the heap's mmap threshold, a resized one does not. */
static void *simulated_remap(hmm_source *self, void *old, size_t old_bytes, size_t new_bytes)
{
    hmm_simulated_source *sim = (hmm_simulated_source *)self;
    size_t keep = old_bytes < new_bytes ? old_bytes : new_bytes;
    char *fresh;
    if ((char *)old == sim->maps && (new_bytes <= old_bytes ||
                                    new_bytes - old_bytes <= (size_t)(sim->maps - sim->limit))) {
        /* The newest mapping: it moves down (or up) by the difference. */
        fresh = sim->maps + old_bytes - new_bytes;
        memmove(fresh, old, keep);
        sim->maps = fresh;
        return fresh;
    }
    if (!(fresh = simulated_map(self, new_bytes)))
        return NULL;
    memcpy(fresh, old, keep);
    simulated_unmap(self, old, old_bytes);
    return fresh;
}

void simulated_source_init_with_maps(hmm_simulated_source *sim, void *base, size_t bytes,
                                     size_t map_bytes)
{
    map_bytes = map_bytes / SIMULATED_PAGE_SIZE * SIMULATED_PAGE_SIZE;
    if (map_bytes > bytes / 2)
        map_bytes = bytes / 2 / SIMULATED_PAGE_SIZE * SIMULATED_PAGE_SIZE;
    simulated_source_init(sim, base, bytes - map_bytes);
    /* The mappings' end, page-aligned as a kernel's are. */
    sim->end = (char *)((uintptr_t)((char *)base + bytes) & ~(uintptr_t)(SIMULATED_PAGE_SIZE - 1));
    sim->maps = sim->end;
    if (map_bytes && sim->end > sim->limit) {
        sim->source.map = simulated_map;
        sim->source.unmap = simulated_unmap;
        sim->source.remap = simulated_remap;
    }
}

void simulated_source_init(hmm_simulated_source *sim, void *base, size_t bytes)
{
    sim->source.move_break = simulated_move_break;
    sim->source.map = NULL;   /* a simulated address space has no mmap */
    sim->source.unmap = NULL;
    sim->source.remap = NULL;
    sim->source.discard = NULL;
    sim->source.page_size = SIMULATED_PAGE_SIZE;
    sim->base = base;
    sim->brk = base;
    sim->limit = (char *)base + bytes;
    sim->maps = sim->end = sim->limit;
}
