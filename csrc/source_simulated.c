/*
 * source_simulated.c - a fake break over a caller's buffer.
 *
 * This is sbrk(2) with the kernel taken out: the "address space" is the
 * buffer, the break is a pointer into it, and running past the end is the
 * ENOMEM that a real break would hit at its rlimit.
 */
#include "source.h"

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
}
