/*
 * fifo_lifo_mt.c - fifo_lifo.h's batches in two threads at once, each on
 * its own blocks: the same pattern as fifo_lifo, plus whatever two threads
 * allocating side by side cost (shared arenas, locks, false sharing).
 *
 *     fifo_lifo_mt [REPETITIONS_PER_THREAD]
 */
#include "fifo_lifo.h"

#include <pthread.h>

#define THREADS 2

static long reps;
static uint64_t checksums[THREADS];

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    checksums[id] = fifo_lifo(reps, 70 + id);
    return NULL;
}

int main(int argc, char **argv)
{
    reps = scale_arg(argc, argv, 2000);
    uint64_t checksum = run_workers(THREADS, worker, checksums);
    report("fifo_lifo_mt", checksum, THREADS * fifo_lifo_ops(reps));
    return 0;
}
