/*
 * exchange.c - two threads hand blocks to each other, taking turns.
 *
 * In each phase one thread allocates PHASE blocks (16..512 bytes), fills
 * them and pushes them into a bounded ring; the other pops, reads and frees
 * them.  Then the roles swap, so every block is freed by the thread that
 * did not allocate it, and each thread's allocator state sees runs of
 * allocation and runs of remote frees in turn.
 *
 * The ring is single-producer single-consumer and lock-free: the position
 * of every block is known in advance (phase * PHASE + i), so each side
 * counts its own place and only publishes it (tail: pushed so far, head:
 * popped so far) for the other side to wait on.  A side that must wait
 * yields the CPU, which matters on a machine of two cores.
 *
 *     exchange [PHASES]
 */
#include "stress.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define PHASE 1000
#define RING 256

static struct {
    void *slots[RING];
    size_t sizes[RING];
    _Alignas(64) atomic_long tail;     /* blocks pushed */
    _Alignas(64) atomic_long head;     /* blocks popped */
} ring;

static long phases;
static uint64_t totals[2];

static void produce(rng_t *rng, long first, int id)
{
    for (long pos = first; pos < first + PHASE; pos++) {
        size_t n = rng_range(rng, 16, 512);
        unsigned char *p = xmalloc(n);
        fill(p, n, (uint64_t)pos * 3 + id);
        while (pos - atomic_load_explicit(&ring.head, memory_order_acquire) >= RING)
            sched_yield();
        ring.slots[pos % RING] = p;
        ring.sizes[pos % RING] = n;
        atomic_store_explicit(&ring.tail, pos + 1, memory_order_release);
    }
}

static uint64_t consume(long first)
{
    uint64_t total = 0;
    for (long pos = first; pos < first + PHASE; pos++) {
        while (atomic_load_explicit(&ring.tail, memory_order_acquire) <= pos)
            sched_yield();
        unsigned char *p = ring.slots[pos % RING];
        size_t n = ring.sizes[pos % RING];
        atomic_store_explicit(&ring.head, pos + 1, memory_order_release);
        total += sum_fill(p, n) + n;
        free(p);
    }
    return total;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    rng_t rng;
    rng_seed(&rng, 8000 + id);
    uint64_t total = 0;
    for (long phase = 0; phase < phases; phase++) {
        if ((phase & 1) == id)
            produce(&rng, phase * PHASE, id);
        else
            total += consume(phase * PHASE);
    }
    totals[id] = total;
    return NULL;
}

int main(int argc, char **argv)
{
    phases = scale_arg(argc, argv, 4000);
    report("exchange", run_workers(2, worker, totals), phases * PHASE);
    return 0;
}
