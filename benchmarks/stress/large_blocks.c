/*
 * large_blocks.c - blocks of 64 KiB to 8 MiB: the mmap path.
 *
 * A live set of LIVE large blocks (sizes spread evenly over the powers of
 * two from 64 KiB to 8 MiB, then jittered) is replaced at random; every
 * fourth replacement reallocs the block instead, up or down.  One byte per
 * 4 KiB page is written and read back, so each block is really faulted in,
 * as a program that uses its buffer would.
 *
 *     large_blocks [STEPS]
 */
#include "stress.h"

#define LIVE 16
#define PAGE 4096

static size_t pick(rng_t *rng)
{
    size_t base = (size_t)64 * 1024 << rng_range(rng, 0, 7);   /* 64 KiB .. 8 MiB */
    return base + rng_range(rng, 0, base / 2) - base / 4;
}

static void touch(unsigned char *p, size_t n, uint64_t tag)
{
    for (size_t i = 0; i < n; i += PAGE)
        p[i] = (unsigned char)(tag + i / PAGE);
    p[n - 1] = (unsigned char)tag;
}

/* The page bytes below n: all written, whatever the block's history. */
static uint64_t pages(const unsigned char *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += PAGE)
        s += p[i];
    return s;
}

int main(int argc, char **argv)
{
    long steps = scale_arg(argc, argv, 4000);
    unsigned char *live[LIVE];
    size_t sizes[LIVE];
    rng_t rng;
    rng_seed(&rng, 7);
    uint64_t checksum = 0;

    for (int i = 0; i < LIVE; i++) {
        sizes[i] = pick(&rng);
        live[i] = xmalloc(sizes[i]);
        touch(live[i], sizes[i], i);
    }
    for (long s = 0; s < steps; s++) {
        size_t i = rng_next(&rng) % LIVE;
        size_t n = pick(&rng);
        if (s % 4 == 3) {
            size_t keep = n < sizes[i] ? n : sizes[i];
            checksum = mix(checksum, pages(live[i], keep));
            unsigned char *q = realloc(live[i], n);
            if (!q) {
                fprintf(stderr, "realloc(%zu) failed\n", n);
                return 1;
            }
            checksum = mix(checksum, pages(q, keep));   /* kept by realloc */
            live[i] = q;
            touch(q, n, s);
        } else {
            checksum = mix(checksum, pages(live[i], sizes[i]) + live[i][sizes[i] - 1]);
            free(live[i]);
            live[i] = xmalloc(n);
            touch(live[i], n, s);
        }
        sizes[i] = n;
    }
    for (int i = 0; i < LIVE; i++) {
        checksum = mix(checksum, pages(live[i], sizes[i]) + live[i][sizes[i] - 1]);
        free(live[i]);
    }
    report("large_blocks", checksum, steps);
    return 0;
}
