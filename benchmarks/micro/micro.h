/*
 * micro.h - what the micro programs share.
 *
 * They run under callgrind, which counts instructions: the benchmark runs
 * each with N and with 2N iterations and divides the difference by N, so
 * start-up, set-up and tear-down cancel and what is left is the cost of one
 * iteration.  The loops are kept bare for the same reason: whatever is not
 * malloc or free is counted too.
 *
 * keep() hides a pointer from the optimiser, so that gcc cannot pair a
 * malloc with its free and delete both.
 */
#ifndef MICRO_H
#define MICRO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline void keep(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static inline long iterations(int argc, char **argv, int index)
{
    long n = argc > index ? strtol(argv[index], NULL, 10) : 0;
    if (n <= 0) {
        fprintf(stderr, "usage: %s%s ITERATIONS\n", argv[0], index == 2 ? " LIVE" : "");
        exit(2);
    }
    return n;
}

static inline void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "allocation failed\n");
        exit(1);
    }
    return p;
}

/* The fixed "random" sizes, 16..512: a linear congruential sequence, so
 * every allocator sees the same requests. */
static inline uint32_t lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static inline size_t small_size(uint32_t *state)
{
    return 16 + lcg(state) % 497;
}

#endif
