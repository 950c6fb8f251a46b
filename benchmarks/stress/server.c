/*
 * server.c - worker threads handling requests, as a server does.
 *
 * THREADS workers (default 4) share REQUESTS requests between them.  A
 * request allocates 2..8 blocks of 8..1000 bytes (its buffers and the
 * objects parsed from them) and fills them; about half of the blocks of 16
 * bytes or more are handed to another worker (chosen by the same generator)
 * through that worker's inbox, the rest are read and freed on the spot.
 * Before each request a worker empties its own inbox, reading and freeing
 * what others sent it: those are remote frees.  With one thread the blocks
 * handed on go to its own inbox.
 *
 * An inbox is a lock-free stack: a sender pushes one block (the block's
 * first bytes hold the link and its size), the owner takes the whole stack
 * with one exchange, so the queue costs a few atomic operations and the
 * allocator is what is measured.  Sizes come from a generator seeded per
 * worker; the checksum adds what every freed block held, so it depends on
 * REQUESTS and THREADS, not on who freed which block when.
 *
 *     server [REQUESTS [THREADS]]
 */
#include "stress.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define MAX_THREADS 64

typedef struct handed {
    struct handed *next;
    size_t size;
} handed_t;

typedef struct {
    _Alignas(64) _Atomic(handed_t *) inbox;   /* a line each: no false sharing */
} worker_t;

static worker_t workers[MAX_THREADS];
static int threads;
static long requests;
static atomic_int working;
static uint64_t totals[MAX_THREADS];

static void send_block(worker_t *to, handed_t *h)
{
    handed_t *top = atomic_load_explicit(&to->inbox, memory_order_relaxed);
    do
        h->next = top;
    while (!atomic_compare_exchange_weak_explicit(&to->inbox, &top, h, memory_order_release,
                                                  memory_order_relaxed));
}

/* Read and free everything in the inbox; returns what the blocks held. */
static uint64_t drain(worker_t *self)
{
    uint64_t total = 0;
    handed_t *h = atomic_exchange_explicit(&self->inbox, NULL, memory_order_acquire);
    while (h) {
        handed_t *next = h->next;
        size_t n = h->size;
        total += sum_fill((unsigned char *)h + sizeof *h, n - sizeof *h) + n;
        free(h);
        h = next;
    }
    return total;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    worker_t *self = &workers[id];
    long mine = requests / threads + (id < requests % threads);
    rng_t rng;
    rng_seed(&rng, 6000 + id);
    uint64_t total = 0;
    for (long r = 0; r < mine; r++) {
        total += drain(self);
        unsigned char *kept[8];
        size_t sizes[8];
        int count = (int)rng_range(&rng, 2, 8), nkept = 0;
        for (int i = 0; i < count; i++) {
            size_t n = rng_range(&rng, 8, 1000);
            uint64_t pick = rng_next(&rng);
            unsigned char *p = xmalloc(n);
            uint64_t tag = (uint64_t)id * 104729 + r * 8 + i;
            if (n > sizeof(handed_t) && (pick & 1)) {
                /* The link takes the first bytes; the payload follows. */
                handed_t *h = (handed_t *)p;
                h->size = n;
                fill(p + sizeof *h, n - sizeof *h, tag);
                int to = threads == 1 ? 0 : (id + 1 + (int)((pick >> 1) % (threads - 1))) % threads;
                send_block(&workers[to], h);
            } else {
                fill(p, n, tag);
                kept[nkept] = p;
                sizes[nkept++] = n;
            }
        }
        for (int i = 0; i < nkept; i++) {
            total += sum_fill(kept[i], sizes[i]) + sizes[i];
            free(kept[i]);
        }
    }
    /* Nobody sends after the last worker is done: one more drain then
     * takes all that is left. */
    atomic_fetch_sub(&working, 1);
    while (atomic_load(&working) > 0) {
        total += drain(self);
        sched_yield();
    }
    total += drain(self);
    totals[id] = total;
    return NULL;
}

int main(int argc, char **argv)
{
    requests = scale_arg(argc, argv, 1000000);
    threads = argc > 2 ? atoi(argv[2]) : 4;
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "server: THREADS must be 1..%d\n", MAX_THREADS);
        return 2;
    }
    atomic_store(&working, threads);
    pthread_t tids[MAX_THREADS];
    for (int i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)i);
    uint64_t checksum = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        checksum += totals[i];
    }
    report("server", checksum, requests);
    return 0;
}
