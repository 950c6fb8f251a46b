/*
 * sbrk_segments.c - frees spread over a heap cut into many segments.
 *
 * A program that moves the break itself (sbrk) between its allocations
 * makes the heap start a new segment above each move.  This one makes
 * SEGMENTS of them, each holding an equal share of 100,000 small blocks
 * (16..256 B), then frees all the blocks, taking one from each segment in
 * turn, so that no two frees in a row fall in the same segment.  The
 * number of frees is the same at every scale: the time per free should be
 * too (finding a pointer's segment must not walk the segments).
 *
 *     sbrk_segments [SEGMENTS]
 *
 * stdout: the checksum line.  stderr: the nanoseconds per free, measured
 * around the free loop alone.
 */
#define _GNU_SOURCE
#include "stress.h"

#include <time.h>
#include <unistd.h>

#define BLOCKS 100000
#define FILLER 100000 /* more than a heap keeps at its top: forces the heap to grow */

int main(int argc, char **argv)
{
    long segments = scale_arg(argc, argv, 1000);
    if (segments > BLOCKS)
        segments = BLOCKS;
    long per = BLOCKS / segments;
    long total = per * segments;
    unsigned char **blocks = xmalloc((size_t)total * sizeof *blocks);
    uint32_t *sizes = xmalloc((size_t)total * sizeof *sizes);
    unsigned char **fillers = xmalloc((size_t)segments * sizeof *fillers);
    rng_t rng;
    rng_seed(&rng, 11);
    uint64_t checksum = 0;

    for (long s = 0; s < segments; s++) {
        fillers[s] = xmalloc(FILLER);
        fill(fillers[s], FILLER, (uint64_t)s);
        for (long j = 0; j < per; j++) {
            long i = j * segments + s; /* block j of segment s */
            sizes[i] = (uint32_t)rng_range(&rng, 16, 256);
            blocks[i] = xmalloc(sizes[i]);
            fill(blocks[i], sizes[i], (uint64_t)i);
        }
        if (sbrk(4096) == (void *)-1) {
            perror("sbrk");
            return 1;
        }
    }
    for (long i = 0; i < total; i++)
        checksum = mix(checksum, sum_fill(blocks[i], sizes[i]));

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < total; i++) /* one segment after another, round and round */
        free(blocks[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr, "sbrk_segments: %ld segments, %.1f ns per free\n", segments, ns / (double)total);

    for (long s = 0; s < segments; s++) {
        checksum = mix(checksum, sum_fill(fillers[s], FILLER));
        free(fillers[s]);
    }
    free(blocks);
    free(sizes);
    free(fillers);
    report("sbrk_segments", checksum, total);
    return 0;
}
