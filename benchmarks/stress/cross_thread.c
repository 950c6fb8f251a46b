/*
 * cross_thread.c - every block is freed by a thread other than the one that
 * allocated it.
 *
 * THREADS threads stand in a ring.  Each round, a thread allocates a batch
 * of blocks (16..1024 bytes), fills them and hands the batch to the next
 * thread through its mailbox; then it takes the batch the previous thread
 * sent, reads and frees every block.  A thread only blocks when its
 * neighbour is a whole mailbox behind, and the ring cannot deadlock: a full
 * mailbox means its owner still has a batch to take, and an empty one means
 * its sender has not sent yet.
 *
 *     cross_thread [ROUNDS]
 */
#include "stress.h"

#include <pthread.h>

#define THREADS 4
#define BATCH 256
#define MAILBOX 4

typedef struct {
    void *blocks[BATCH];
    size_t sizes[BATCH];
} batch_t;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    batch_t *slots[MAILBOX];
    int head, count;
} mailbox_t;

static mailbox_t boxes[THREADS];
static long rounds;
static uint64_t totals[THREADS];

static void send(mailbox_t *m, batch_t *b)
{
    pthread_mutex_lock(&m->lock);
    while (m->count == MAILBOX)
        pthread_cond_wait(&m->changed, &m->lock);
    m->slots[(m->head + m->count) % MAILBOX] = b;
    m->count++;
    pthread_cond_broadcast(&m->changed);
    pthread_mutex_unlock(&m->lock);
}

static batch_t *receive(mailbox_t *m)
{
    pthread_mutex_lock(&m->lock);
    while (m->count == 0)
        pthread_cond_wait(&m->changed, &m->lock);
    batch_t *b = m->slots[m->head];
    m->head = (m->head + 1) % MAILBOX;
    m->count--;
    pthread_cond_broadcast(&m->changed);
    pthread_mutex_unlock(&m->lock);
    return b;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    rng_t rng;
    rng_seed(&rng, 1000 + id);
    uint64_t total = 0;
    for (long r = 0; r < rounds; r++) {
        batch_t *b = xmalloc(sizeof *b);
        for (int i = 0; i < BATCH; i++) {
            size_t n = rng_range(&rng, 16, 1024);
            b->blocks[i] = xmalloc(n);
            b->sizes[i] = n;
            fill(b->blocks[i], n, (uint64_t)id * 7919 + r * 31 + i);
        }
        send(&boxes[(id + 1) % THREADS], b);

        batch_t *in = receive(&boxes[id]);
        for (int i = 0; i < BATCH; i++) {
            total += sum_fill(in->blocks[i], in->sizes[i]) + in->sizes[i];
            free(in->blocks[i]);
        }
        free(in);
    }
    totals[id] = total;
    return NULL;
}

int main(int argc, char **argv)
{
    rounds = scale_arg(argc, argv, 2000);
    for (int i = 0; i < THREADS; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        pthread_cond_init(&boxes[i].changed, NULL);
    }
    uint64_t checksum = run_workers(THREADS, worker, totals);
    report("cross_thread", checksum, rounds * THREADS * BATCH);
    return 0;
}
