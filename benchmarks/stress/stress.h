/*
 * stress.h - what the stress programs share: a seeded generator, a
 * checksum, and the command line.
 *
 * Every program takes one argument, its scale (how many operations), and
 * prints one line "NAME: checksum 0x... ops N".  The checksum depends only
 * on the scale, never on timing or thread scheduling (threads add into it,
 * and addition does not care about order), so the benchmark compares the
 * line printed under each allocator with glibc's.
 */
#ifndef STRESS_H
#define STRESS_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: small, fast and the same everywhere. */
typedef struct { uint64_t s; } rng_t;

static inline void rng_seed(rng_t *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r->s == 0)
        r->s = 1;
}

static inline uint64_t rng_next(rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi]. */
static inline size_t rng_range(rng_t *r, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(r) % (hi - lo + 1));
}

/* A value to mix into a checksum: order-sensitive, for one thread. */
static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

/* Fill a block with bytes derived from `tag`, and read them back. */
static inline void fill(unsigned char *p, size_t n, uint64_t tag)
{
    for (size_t i = 0; i < n; i += 64)
        p[i] = (unsigned char)(tag + i);
    p[n - 1] = (unsigned char)(tag >> 8);
}

static inline uint64_t sum_fill(const unsigned char *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += 64)
        s += p[i];
    return s + p[n - 1];
}

/* Run worker((void *)id) in n threads, ids 0..n-1, and join them in id
 * order, mixing what each left in results[id] into one checksum. */
static inline uint64_t run_workers(int n, void *(*worker)(void *), const uint64_t *results)
{
    pthread_t threads[n];
    for (int i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, worker, (void *)(intptr_t)i);
    uint64_t checksum = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        checksum = mix(checksum, results[i]);
    }
    return checksum;
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "malloc(%zu) failed\n", n);
        exit(1);
    }
    return p;
}

static inline long scale_arg(int argc, char **argv, long fallback)
{
    if (argc < 2)
        return fallback;
    long n = strtol(argv[1], NULL, 10);
    if (n <= 0) {
        fprintf(stderr, "usage: %s [SCALE > 0]\n", argv[0]);
        exit(2);
    }
    return n;
}

static inline void report(const char *name, uint64_t checksum, long ops)
{
    printf("%s: checksum 0x%016llx ops %ld\n", name, (unsigned long long)checksum, ops);
}

#endif
