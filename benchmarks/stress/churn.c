/*
 * churn.c - small objects freed in random order under a large live set.
 *
 * LIVE blocks of 16..512 bytes stay allocated; each step frees a random one
 * and allocates a new block of a random size in its place, so the heap is
 * fragmented the way a long-running program's is.  Every block is filled
 * and read back before it is freed.
 *
 *     churn [STEPS]
 */
#include "stress.h"

#define LIVE 100000

int main(int argc, char **argv)
{
    long steps = scale_arg(argc, argv, 3000000);
    static unsigned char *live[LIVE];
    static uint32_t sizes[LIVE];
    rng_t rng;
    rng_seed(&rng, 3);
    uint64_t checksum = 0;

    for (int i = 0; i < LIVE; i++) {
        sizes[i] = (uint32_t)rng_range(&rng, 16, 512);
        live[i] = xmalloc(sizes[i]);
        fill(live[i], sizes[i], i);
    }
    for (long s = 0; s < steps; s++) {
        size_t i = rng_next(&rng) % LIVE;
        checksum = mix(checksum, sum_fill(live[i], sizes[i]));
        free(live[i]);
        sizes[i] = (uint32_t)rng_range(&rng, 16, 512);
        live[i] = xmalloc(sizes[i]);
        fill(live[i], sizes[i], s);
    }
    for (int i = 0; i < LIVE; i++) {
        checksum = mix(checksum, sum_fill(live[i], sizes[i]));
        free(live[i]);
    }
    report("churn", checksum, steps);
    return 0;
}
