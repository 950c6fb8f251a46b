/*
 * thread_fork.c - fork while other threads are inside malloc and free.
 *
 * Two producer threads allocate blocks and hand them through a shared queue
 * to two consumer threads, which check and free them (so every block is
 * freed on a thread other than the one that allocated it).  Meanwhile the
 * main thread forks FORKS times.  A fork can land while another thread holds
 * the allocator's lock; an allocator that does not take its lock around
 * fork() leaves the child with a lock nobody will release, and the child's
 * first malloc hangs.  Each child therefore arms an alarm: a hung child dies
 * of SIGALRM and the parent reports it instead of hanging.
 *
 * Every child allocates and frees sizes 1..64 KiB, checks their contents,
 * frees blocks the parent allocated before the fork, and leaves with
 * _exit(0).  The parent checks every child's status and prints a summary;
 * it returns from main, so an atexit-time report runs.
 *
 * Usage: thread_fork [forks]      (default 200)
 * Exit: 0 when every child succeeded and the queue balanced, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define QUEUE_CAP 128
#define INHERITED 64
#define CHILD_ALARM_SECONDS 20

struct item {
    unsigned char *ptr;
    size_t size;
    unsigned char tag;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct item slots[QUEUE_CAP];
    unsigned head, count;
} queue = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .not_empty = PTHREAD_COND_INITIALIZER,
    .not_full = PTHREAD_COND_INITIALIZER,
};

static volatile int stop_producing;
static unsigned long produced[PRODUCERS], consumed[CONSUMERS], bad_blocks;

static uint64_t next_random(uint64_t *state)
{
    /* xorshift64: deterministic and allocation-free */
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static size_t random_size(uint64_t *state)
{
    uint64_t r = next_random(state);
    switch (r % 8) {
    case 0: return 1 + (r >> 8) % 16;
    case 1: case 2: case 3: return 1 + (r >> 8) % 512;
    case 4: case 5: return 1 + (r >> 8) % 8192;
    case 6: return 1 + (r >> 8) % 65536;
    default: return 100000 + (r >> 8) % 300000; /* large: the mmap path, if any */
    }
}

static void put(struct item item)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == QUEUE_CAP)
        pthread_cond_wait(&queue.not_full, &queue.lock);
    queue.slots[(queue.head + queue.count) % QUEUE_CAP] = item;
    queue.count++;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

static struct item take(void)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == 0)
        pthread_cond_wait(&queue.not_empty, &queue.lock);
    struct item item = queue.slots[queue.head];
    queue.head = (queue.head + 1) % QUEUE_CAP;
    queue.count--;
    pthread_cond_signal(&queue.not_full);
    pthread_mutex_unlock(&queue.lock);
    return item;
}

static int filled_with(const unsigned char *p, size_t n, unsigned char tag)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != tag)
            return 0;
    return 1;
}

static void *producer(void *arg)
{
    long id = (long)arg;
    uint64_t state = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    while (!stop_producing) {
        struct item item;
        item.size = random_size(&state);
        item.tag = (unsigned char)(next_random(&state) | 1);
        item.ptr = malloc(item.size);
        if (item.ptr == NULL) {
            fprintf(stderr, "producer %ld: malloc(%zu) failed\n", id, item.size);
            exit(1);
        }
        memset(item.ptr, item.tag, item.size);
        /* Some short-lived blocks stay on this thread, to mix the traffic. */
        void *scratch = calloc(1 + next_random(&state) % 300, 8);
        free(scratch);
        put(item);
        produced[id]++;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    long id = (long)arg;
    for (;;) {
        struct item item = take();
        if (item.ptr == NULL)
            return NULL; /* poison: producers are done */
        if (!filled_with(item.ptr, item.size, item.tag))
            __atomic_add_fetch(&bad_blocks, 1, __ATOMIC_RELAXED);
        if (item.size % 3 == 0) {
            /* grow a block allocated elsewhere, then free it here */
            unsigned char *grown = realloc(item.ptr, item.size * 2);
            if (grown == NULL || !filled_with(grown, item.size, item.tag))
                __atomic_add_fetch(&bad_blocks, 1, __ATOMIC_RELAXED);
            item.ptr = grown;
        }
        free(item.ptr);
        consumed[id]++;
    }
}

/* ---- the child ----------------------------------------------------------- */

static void child_fail(const char *what)
{
    char line[160];
    int n = snprintf(line, sizeof line, "child %d: %s\n", (int)getpid(), what);
    if (n > 0)
        (void)!write(2, line, (size_t)n);
    _exit(2);
}

static void child_work(unsigned char **inherited, size_t inherited_count, int round)
{
    alarm(CHILD_ALARM_SECONDS);

    /* The heap came across the fork: what the parent wrote is still there
     * and the child can free it. */
    for (size_t i = 0; i < inherited_count; i++) {
        if (!filled_with(inherited[i], 64 + i * 32, (unsigned char)(0x40 + i)))
            child_fail("inherited block corrupted");
        free(inherited[i]);
    }

    static unsigned char *blocks[600];
    size_t sizes[600], count = 0;
    for (size_t n = 1; n <= 256; n++)
        sizes[count++] = n;
    for (size_t n = 257; n <= 65536; n = n * 5 / 4 + 3)
        sizes[count++] = n;
    sizes[count++] = 65536;
    sizes[count++] = 65535 + (size_t)round;

    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(sizes[i]);
        if (blocks[i] == NULL)
            child_fail("malloc returned NULL");
        if ((uintptr_t)blocks[i] % 16 != 0)
            child_fail("malloc result not 16-byte aligned");
        memset(blocks[i], (int)(i & 0xff), sizes[i]);
    }
    for (size_t i = 0; i < count; i += 2) {  /* free every other one */
        if (!filled_with(blocks[i], sizes[i], (unsigned char)(i & 0xff)))
            child_fail("block corrupted before free");
        free(blocks[i]);
    }
    for (size_t i = 1; i < count; i += 2) {  /* grow the rest in place or by moving */
        unsigned char *grown = realloc(blocks[i], sizes[i] + 100);
        if (grown == NULL || !filled_with(grown, sizes[i], (unsigned char)(i & 0xff)))
            child_fail("realloc lost the contents");
        blocks[i] = grown;
    }
    for (size_t i = 0; i < count; i += 2) {  /* refill the holes with zeroed memory */
        blocks[i] = calloc(sizes[i], 1);
        if (blocks[i] == NULL || !filled_with(blocks[i], sizes[i], 0))
            child_fail("calloc memory not zero");
    }
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    _exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 200;
    pthread_t threads[PRODUCERS + CONSUMERS];

    for (long i = 0; i < PRODUCERS; i++)
        pthread_create(&threads[i], NULL, producer, (void *)i);
    for (long i = 0; i < CONSUMERS; i++)
        pthread_create(&threads[PRODUCERS + i], NULL, consumer, (void *)i);

    int ok = 0, failed = 0;
    for (int round = 0; round < forks; round++) {
        unsigned char *inherited[INHERITED];
        size_t n = (size_t)(round % INHERITED) + 1;
        for (size_t i = 0; i < n; i++) {
            inherited[i] = malloc(64 + i * 32);
            memset(inherited[i], 0x40 + (int)i, 64 + i * 32);
        }

        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0)
            child_work(inherited, n, round);

        for (size_t i = 0; i < n; i++)
            free(inherited[i]);

        int status;
        while (waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) {
                perror("waitpid");
                return 1;
            }
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            ok++;
        } else {
            failed++;
            if (WIFSIGNALED(status))
                fprintf(stderr, "fork %d: child killed by signal %d%s\n", round, WTERMSIG(status),
                        WTERMSIG(status) == SIGALRM ? " (hung: deadlock after fork?)" : "");
            else
                fprintf(stderr, "fork %d: child exited with %d\n", round, WEXITSTATUS(status));
        }
    }

    stop_producing = 1;
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        put((struct item){NULL, 0, 0});
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(threads[PRODUCERS + i], NULL);

    unsigned long made = 0, freed = 0;
    for (int i = 0; i < PRODUCERS; i++)
        made += produced[i];
    for (int i = 0; i < CONSUMERS; i++)
        freed += consumed[i];
    printf("forks %d ok %d failed %d\n", forks, ok, failed);
    printf("blocks handed over %lu freed %lu bad %lu\n", made, freed, bad_blocks);
    return failed == 0 && made == freed && bad_blocks == 0 ? 0 : 1;
}
