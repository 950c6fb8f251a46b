/*
 * aligned_mt.c - aligned.c's pattern in two threads at once: each keeps
 * its own LIVE blocks of alignment 16..4096 (aligned.h) and replaces them
 * at random.  Every pointer's alignment is checked; a misaligned one ends
 * the program with status 1.  Aligned requests often take a slower path
 * than malloc's (a bigger block trimmed, a lock): here two threads meet on
 * it.
 *
 *     aligned_mt [STEPS_PER_THREAD]
 */
#include "aligned.h"

#include <pthread.h>

#define THREADS 2
#define LIVE 2048

static long steps;
static uint64_t checksums[THREADS];

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned char **live = xmalloc(LIVE * sizeof *live);
    size_t *sizes = xmalloc(LIVE * sizeof *sizes);
    rng_t rng;
    rng_seed(&rng, 50 + id);
    uint64_t checksum = aligned_churn(live, sizes, LIVE, steps, &rng);
    free(live);
    free(sizes);
    checksums[id] = checksum;
    return NULL;
}

int main(int argc, char **argv)
{
    steps = scale_arg(argc, argv, 500000);
    uint64_t checksum = run_workers(THREADS, worker, checksums);
    report("aligned_mt", checksum, THREADS * steps);
    return 0;
}
