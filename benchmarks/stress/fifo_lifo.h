/*
 * fifo_lifo.h - the pattern fifo_lifo.c runs in one thread and
 * fifo_lifo_mt.c in two: batches of blocks of one size, allocated, then
 * freed half in the order they came (FIFO) and half in reverse (LIFO).
 *
 * A free list that serves LIFO well (a stack) and one that serves FIFO
 * well (a queue) lose on the other order; batches of 25 to 1600 blocks
 * fit a thread cache, overflow it, or overflow it many times over.
 */
#ifndef FIFO_LIFO_H
#define FIFO_LIFO_H

#include "stress.h"

static const int batch_counts[] = {25, 100, 400, 1600};
static const size_t batch_sizes[] = {16, 48, 128, 384, 1024};
#define BATCH_MAX 1600

/* `reps` repetitions of every batch count; returns an order-sensitive
 * checksum of what the blocks held when they were freed. */
static uint64_t fifo_lifo(long reps, uint64_t seed)
{
    unsigned char *blocks[BATCH_MAX];
    rng_t rng;
    rng_seed(&rng, seed);
    uint64_t checksum = 0;
    for (long r = 0; r < reps; r++) {
        for (size_t c = 0; c < sizeof batch_counts / sizeof batch_counts[0]; c++) {
            int n = batch_counts[c];
            size_t size = batch_sizes[rng_next(&rng) % (sizeof batch_sizes / sizeof batch_sizes[0])];
            for (int i = 0; i < n; i++) {
                blocks[i] = xmalloc(size);
                fill(blocks[i], size, (uint64_t)r * 1601 + i);
            }
            /* Which half goes first alternates, so both orders meet a
             * free list that the other order has just shaped. */
            int fifo_first = r & 1;
            for (int pass = 0; pass < 2; pass++) {
                if ((pass == 0) == fifo_first) {
                    for (int i = 0; i < n / 2; i++) {               /* FIFO */
                        checksum = mix(checksum, sum_fill(blocks[i], size));
                        free(blocks[i]);
                    }
                } else {
                    for (int i = n - 1; i >= n / 2; i--) {          /* LIFO */
                        checksum = mix(checksum, sum_fill(blocks[i], size));
                        free(blocks[i]);
                    }
                }
            }
        }
    }
    return checksum;
}

/* Blocks allocated and freed per repetition. */
static long fifo_lifo_ops(long reps)
{
    long per = 0;
    for (size_t c = 0; c < sizeof batch_counts / sizeof batch_counts[0]; c++)
        per += batch_counts[c];
    return reps * per;
}

#endif
