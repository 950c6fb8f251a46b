/*
 * soak.c - many threads allocating at random for a while lose no byte.
 *
 * T threads each keep up to 2000 live blocks and, until the time is up, pick
 * a slot at random and malloc, calloc, realloc, memalign, aligned_alloc,
 * posix_memalign or free there.  Sizes are mostly small (1..600), some medium
 * (up to 64 KiB) and a few large (up to 1 MiB, where allocators map memory).
 * Threads also swap blocks through a shared exchange under a mutex, so that
 * blocks are realloc'd and freed by threads other than the one that
 * allocated them.
 *
 * Every live block holds bytes derived from its own seed and size.  They are
 * checked before every free, after every realloc (the old bytes must survive
 * up to the smaller of the two sizes) and when a block changes hands; a
 * calloc'd block must be all zeros before it is filled; every block must be
 * 16-byte aligned, aligned ones to what was asked.
 *
 * Usage: soak SECONDS [THREADS [SEED]]     (THREADS defaults to 4)
 * Prints "ops N corruptions C failures F handovers H"; exits 1 when C or F
 * (allocations that returned NULL, or misaligned blocks) is not 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXLIVE 2000
#define EXCHANGE 256
#define MAXTHREADS 64

struct block {
    unsigned char *p;
    size_t size;
    uint64_t seed;
};

static struct block exchange[EXCHANGE];
static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;

static double seconds;
static uint64_t base_seed;
static atomic_ulong corruptions, failures, reports;

struct worker {
    pthread_t thread;
    int id;
    uint64_t rng;
    unsigned long ops, handovers;
    struct block live[MAXLIVE];
};

static uint64_t next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The word at index k of a block with this seed and size; byte i of the
 * block is byte i % 8 of word i / 8. */
static uint64_t word(uint64_t seed, size_t size, size_t k)
{
    return (seed ^ (size * 0xD6E8FEB86659FD93ULL)) + k * 0x9E3779B97F4A7C15ULL;
}

static void fill(struct block *b)
{
    size_t n = b->size, words = n / 8;
    for (size_t k = 0; k < words; k++) {
        uint64_t w = word(b->seed, n, k);
        memcpy(b->p + 8 * k, &w, 8);
    }
    uint64_t w = word(b->seed, n, words);
    memcpy(b->p + 8 * words, &w, n % 8);
}

static void report(const char *what, const void *p, size_t size, size_t at)
{
    atomic_fetch_add(&corruptions, 1);
    if (atomic_fetch_add(&reports, 1) < 10)
        fprintf(stderr, "soak: %s: block %p of %zu bytes differs at byte %zu\n", what, p, size, at);
}

/* The first `upto` bytes of p still hold the pattern of (seed, size). */
static int verify(const unsigned char *p, size_t upto, uint64_t seed, size_t size, const char *what)
{
    size_t words = upto / 8;
    for (size_t k = 0; k < words; k++) {
        uint64_t w = word(seed, size, k), got;
        memcpy(&got, p + 8 * k, 8);
        if (got != w) {
            for (size_t i = 0; i < 8; i++)
                if (p[8 * k + i] != (unsigned char)(w >> (8 * i))) {
                    report(what, p, size, 8 * k + i);
                    return 0;
                }
        }
    }
    uint64_t w = word(seed, size, words);
    for (size_t i = 0; i < upto % 8; i++)
        if (p[8 * words + i] != (unsigned char)(w >> (8 * i))) {
            report(what, p, size, 8 * words + i);
            return 0;
        }
    return 1;
}

static void failure(const char *what, size_t size, size_t align)
{
    atomic_fetch_add(&failures, 1);
    if (atomic_fetch_add(&reports, 1) < 10)
        fprintf(stderr, "soak: %s of %zu bytes (alignment %zu) failed\n", what, size, align);
}

static size_t random_size(uint64_t *rng)
{
    unsigned r = next(rng) % 1000;
    if (r < 940)
        return 1 + next(rng) % 600;
    if (r < 995)
        return 601 + next(rng) % (65536 - 600);
    return 65537 + next(rng) % ((1 << 20) - 65536);
}

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* A new block in an empty slot, by one of the allocation calls. */
static void allocate(struct worker *w, struct block *b)
{
    size_t size = random_size(&w->rng);
    size_t align = 16;
    unsigned how = next(&w->rng) % 100;
    void *p = NULL;
    const char *what;
    int zeroed = 0;
    if (how < 50) {
        what = "malloc";
        p = malloc(size);
    } else if (how < 65) {
        what = "calloc";
        p = calloc(1 + size / 8, 8);
        size = (1 + size / 8) * 8;
        zeroed = 1;
    } else if (how < 75) {
        what = "realloc(NULL)";
        p = realloc(NULL, size);
    } else if (how < 85) {
        align = (size_t)16 << (next(&w->rng) % 9); /* 16 .. 4096 */
        if (next(&w->rng) % 50 == 0)
            align = 65536;
        if (how & 1) {
            what = "memalign";
            p = memalign(align, size);
        } else {
            what = "aligned_alloc";
            p = aligned_alloc(align, size);
        }
    } else {
        align = (size_t)16 << (next(&w->rng) % 9);
        what = "posix_memalign";
        if (posix_memalign(&p, align, size) != 0)
            p = NULL;
    }
    w->ops++;
    if (!p) {
        failure(what, size, align);
        return;
    }
    if (!aligned_to(p, align) || !aligned_to(p, 16)) {
        failure("alignment", size, align);
        free(p);
        return;
    }
    if (zeroed) {
        const unsigned char *z = p;
        for (size_t i = 0; i < size; i++)
            if (z[i]) {
                report("calloc'd block not zero", p, size, i);
                break;
            }
    }
    b->p = p;
    b->size = size;
    b->seed = next(&w->rng);
    fill(b);
}

static void release(struct worker *w, struct block *b, const char *what)
{
    verify(b->p, b->size, b->seed, b->size, what);
    free(b->p);
    b->p = NULL;
    w->ops++;
}

static void resize(struct worker *w, struct block *b)
{
    size_t size = random_size(&w->rng);
    unsigned char *p = realloc(b->p, size);
    w->ops++;
    if (!p) {
        failure("realloc", size, 16);
        return; /* the old block is still ours */
    }
    if (!aligned_to(p, 16))
        failure("realloc alignment", size, 16);
    size_t keep = b->size < size ? b->size : size;
    verify(p, keep, b->seed, b->size, "after realloc");
    b->p = p;
    b->size = size;
    b->seed = next(&w->rng);
    fill(b);
}

/* Put our block in a random exchange slot; what was there becomes ours. */
static void swap(struct worker *w, struct block *b)
{
    struct block mine = *b;
    size_t slot = next(&w->rng) % EXCHANGE;
    pthread_mutex_lock(&exchange_lock);
    *b = exchange[slot];
    exchange[slot] = mine;
    pthread_mutex_unlock(&exchange_lock);
    if (b->p) {
        w->handovers++;
        verify(b->p, b->size, b->seed, b->size, "handed over");
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    double end = now() + seconds;
    for (unsigned long round = 0;; round++) {
        if ((round & 127) == 0 && now() >= end)
            break;
        struct block *b = &w->live[next(&w->rng) % MAXLIVE];
        if (!b->p) {
            allocate(w, b);
            continue;
        }
        unsigned r = next(&w->rng) % 100;
        if (r < 45)
            release(w, b, "before free");
        else if (r < 80)
            resize(w, b);
        else
            swap(w, b);
    }
    for (size_t i = 0; i < MAXLIVE; i++)
        if (w->live[i].p)
            release(w, &w->live[i], "before free at the end");
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: soak SECONDS [THREADS [SEED]]\n");
        return 2;
    }
    seconds = strtod(argv[1], NULL);
    int threads = argc > 2 ? atoi(argv[2]) : 4;
    base_seed = argc > 3 ? strtoull(argv[3], NULL, 0) : (uint64_t)time(NULL);
    if (threads < 1 || threads > MAXTHREADS) {
        fprintf(stderr, "soak: 1..%d threads\n", MAXTHREADS);
        return 2;
    }
    static struct worker workers[MAXTHREADS];
    for (int i = 0; i < threads; i++) {
        workers[i].id = i;
        workers[i].rng = (base_seed + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 0xBF58476D1CE4E5B9ULL;
        if (!workers[i].rng)
            workers[i].rng = 1;
        int rc = pthread_create(&workers[i].thread, NULL, work, &workers[i]);
        if (rc) {
            fprintf(stderr, "soak: pthread_create: %s\n", strerror(rc));
            return 2;
        }
    }
    unsigned long ops = 0, handovers = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        ops += workers[i].ops;
        handovers += workers[i].handovers;
    }
    /* What is left in the exchange was allocated by some thread and is
     * freed by this one. */
    for (size_t i = 0; i < EXCHANGE; i++)
        if (exchange[i].p) {
            verify(exchange[i].p, exchange[i].size, exchange[i].seed, exchange[i].size,
                   "before free from the exchange");
            free(exchange[i].p);
            ops++;
        }
    unsigned long c = atomic_load(&corruptions), f = atomic_load(&failures);
    printf("ops %lu corruptions %lu failures %lu handovers %lu\n", ops, c, f, handovers);
    return c || f ? 1 : 0;
}
