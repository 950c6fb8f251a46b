/*
 * producer_consumer.c - producers allocate messages, consumers free them.
 *
 * PRODUCERS threads each allocate MESSAGES messages of 16..256 bytes and
 * push them on one bounded queue (a ring under a mutex); CONSUMERS threads
 * pop them, read them and free them.  Which consumer gets which message
 * depends on scheduling; the sum of what they read does not.
 *
 *     producer_consumer [MESSAGES_PER_PRODUCER]
 */
#include "stress.h"

#include <pthread.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define QUEUE 1024

typedef struct {
    uint64_t value;
    uint32_t size;
    unsigned char payload[];
} message_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    message_t *ring[QUEUE];
    int head, count, producers_left;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
           {0}, 0, 0, PRODUCERS};

static long messages;
static uint64_t consumed[CONSUMERS];
static long counts[CONSUMERS];

static void *producer(void *arg)
{
    int id = (int)(intptr_t)arg;
    rng_t rng;
    rng_seed(&rng, 2000 + id);
    for (long i = 0; i < messages; i++) {
        size_t n = rng_range(&rng, 16, 256);
        message_t *m = xmalloc(sizeof *m + n);
        m->value = rng_next(&rng) >> 16;
        m->size = (uint32_t)n;
        fill(m->payload, n, m->value);

        pthread_mutex_lock(&queue.lock);
        while (queue.count == QUEUE)
            pthread_cond_wait(&queue.not_full, &queue.lock);
        queue.ring[(queue.head + queue.count) % QUEUE] = m;
        queue.count++;
        pthread_cond_signal(&queue.not_empty);
        pthread_mutex_unlock(&queue.lock);
    }
    pthread_mutex_lock(&queue.lock);
    queue.producers_left--;
    pthread_cond_broadcast(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
    return NULL;
}

static void *consumer(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t total = 0;
    long count = 0;
    for (;;) {
        pthread_mutex_lock(&queue.lock);
        while (queue.count == 0 && queue.producers_left > 0)
            pthread_cond_wait(&queue.not_empty, &queue.lock);
        if (queue.count == 0) {
            pthread_mutex_unlock(&queue.lock);
            break;
        }
        message_t *m = queue.ring[queue.head];
        queue.head = (queue.head + 1) % QUEUE;
        queue.count--;
        pthread_cond_signal(&queue.not_full);
        pthread_mutex_unlock(&queue.lock);

        total += m->value + sum_fill(m->payload, m->size);
        count++;
        free(m);
    }
    consumed[id] = total;
    counts[id] = count;
    return NULL;
}

int main(int argc, char **argv)
{
    messages = scale_arg(argc, argv, 200000);
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&c[i], NULL, consumer, (void *)(intptr_t)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    uint64_t total = 0;
    long count = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(c[i], NULL);
        total += consumed[i];
        count += counts[i];
    }
    if (count != messages * PRODUCERS) {
        fprintf(stderr, "producer_consumer: %ld messages consumed, %ld sent\n",
                count, messages * PRODUCERS);
        return 1;
    }
    report("producer_consumer", total, count);
    return 0;
}
