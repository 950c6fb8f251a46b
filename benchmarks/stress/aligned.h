/*
 * aligned.h - one checked aligned allocation, for aligned.c and
 * aligned_mt.c: posix_memalign or aligned_alloc (by the step's parity),
 * alignment 16..4096, size up to 8 KiB (for aligned_alloc a multiple of the
 * alignment, as C11 asks).  A failed or misaligned allocation ends the
 * program with status 1.  And the churn both programs run over them.
 */
#ifndef ALIGNED_H
#define ALIGNED_H

#include "stress.h"

static void *aligned_get(rng_t *rng, long step, size_t *size)
{
    size_t align = (size_t)16 << rng_range(rng, 0, 8);   /* 16 .. 4096 */
    size_t n = rng_range(rng, 1, 8192);
    void *p = NULL;
    if (step & 1) {
        n = (n + align - 1) / align * align;
        p = aligned_alloc(align, n);
    } else if (posix_memalign(&p, align, n) != 0) {
        p = NULL;
    }
    if (!p) {
        fprintf(stderr, "aligned allocation of %zu bytes at %zu failed\n", n, align);
        exit(1);
    }
    if ((uintptr_t)p % align != 0) {
        fprintf(stderr, "%p is not aligned to %zu\n", p, align);
        exit(1);
    }
    *size = n;
    return p;
}

/* `n` live aligned blocks, each step replacing a random one; every block's
 * contents are summed before it is freed.  Returns the checksum. */
static uint64_t aligned_churn(unsigned char **live, size_t *sizes, size_t n, long steps, rng_t *rng)
{
    uint64_t checksum = 0;
    for (size_t i = 0; i < n; i++) {
        live[i] = aligned_get(rng, (long)i, &sizes[i]);
        fill(live[i], sizes[i], i);
    }
    for (long s = 0; s < steps; s++) {
        size_t i = rng_next(rng) % n;
        checksum = mix(checksum, sum_fill(live[i], sizes[i]));
        free(live[i]);
        live[i] = aligned_get(rng, s, &sizes[i]);
        fill(live[i], sizes[i], s);
    }
    for (size_t i = 0; i < n; i++) {
        checksum = mix(checksum, sum_fill(live[i], sizes[i]));
        free(live[i]);
    }
    return checksum;
}

#endif
