/*
 * arena_threads.c - threads that meet on medium and aligned blocks.
 *
 *     arena_threads run STEPS [ARENA_MAX]
 *                                 two workers, STEPS steps each, while the
 *                                 main thread forks 40 children that
 *                                 allocate (after mallopt(M_ARENA_MAX))
 *     arena_threads generations G STEPS
 *                                 G pairs of workers, one pair after another
 *     arena_threads double_free   two workers allocate malloc(2000) blocks;
 *                                 the first to get one away from the break
 *                                 (in an arena, under HMM) frees it twice
 *
 * run: each worker keeps 256 live blocks, medium (1,100..20,000 bytes,
 * grown and shrunk by realloc) and aligned (alignment 16..4096, up to 8 KiB),
 * and replaces a random one at each step; every 16th step it hands a block
 * to the other worker through a mailbox and frees the one it finds there,
 * so that blocks are freed by the thread that did not allocate them.  Every
 * block is filled when made and its contents summed before it is freed (a
 * block handed over is checked by its taker): prints the two checksums and
 * "children 40 ok".
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIVE 256

typedef struct worker {
    int id;
    long steps;
    uint64_t rng, checksum;
} worker;

static pthread_barrier_t start;
static pthread_mutex_t mailbox_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned char *block;
    size_t size;
    uint64_t sum; /* what its contents sum to: checked by the taker */
    int from;
} mailbox;
static volatile int workers_done;

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i += 64)
        p[i] = (unsigned char)(seed + i);
    p[n - 1] = (unsigned char)seed;
}

static uint64_t sum(const unsigned char *p, size_t n)
{
    uint64_t s = n;
    for (size_t i = 0; i < n; i += 64)
        s = s * 31 + p[i];
    return s * 31 + p[n - 1];
}

static void die(const char *what, size_t n)
{
    fprintf(stderr, "%s of %zu bytes failed\n", what, n);
    exit(1);
}

/* A new block: medium from malloc or realloc's growth, or aligned. */
static unsigned char *make(worker *w, size_t *size)
{
    uint64_t r = next(&w->rng);
    unsigned char *p;
    if (r % 3 == 0) {
        size_t align = (size_t)16 << (r >> 8) % 9;
        size_t n = 1 + (r >> 16) % 8192;
        if (posix_memalign((void **)&p, align, n) != 0)
            die("posix_memalign", n);
        if ((uintptr_t)p % align)
            die("misaligned block", n);
        *size = n;
    } else {
        size_t n = 1100 + (r >> 8) % 18900;
        p = malloc(n / 2);
        if (!p)
            die("malloc", n / 2);
        p[0] = 1;
        p = realloc(p, n); /* grown, then shrunk a little */
        if (!p)
            die("realloc", n);
        p = realloc(p, n - 64);
        if (!p)
            die("realloc", n - 64);
        *size = n - 64;
    }
    fill(p, *size, r);
    return p;
}

static void *work(void *arg)
{
    worker *w = arg;
    unsigned char *live[LIVE];
    size_t sizes[LIVE];
    pthread_barrier_wait(&start);
    for (int i = 0; i < LIVE; i++)
        live[i] = make(w, &sizes[i]);
    for (long s = 0; s < w->steps; s++) {
        int i = (int)(next(&w->rng) % LIVE);
        uint64_t mine = sum(live[i], sizes[i]);
        w->checksum = w->checksum * 7 + mine;
        if (s % 16 == 0) { /* hand it over; free what the other handed over */
            pthread_mutex_lock(&mailbox_lock);
            unsigned char *theirs = mailbox.from != w->id ? mailbox.block : NULL;
            size_t their_size = mailbox.size;
            uint64_t their_sum = mailbox.sum;
            if (theirs || !mailbox.block) {
                mailbox.block = live[i];
                mailbox.size = sizes[i];
                mailbox.sum = mine;
                mailbox.from = w->id;
            } else {
                free(live[i]); /* our own is still there: no swap this time */
            }
            pthread_mutex_unlock(&mailbox_lock);
            if (theirs) {
                if (sum(theirs, their_size) != their_sum)
                    die("a block handed over changed: contents", their_size);
                free(theirs);
            }
        } else {
            free(live[i]);
        }
        live[i] = make(w, &sizes[i]);
    }
    for (int i = 0; i < LIVE; i++) {
        w->checksum = w->checksum * 7 + sum(live[i], sizes[i]);
        free(live[i]);
    }
    return NULL;
}

static int run(long steps)
{
    worker w[2] = {{0, steps, 0x9e3779b97f4a7c15ull, 0}, {1, steps, 0xd1b54a32d192ed03ull, 0}};
    pthread_t t[2];
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, work, &w[i]);
    /* Forks while the workers hold and take their heaps' locks: each child
     * must find every lock free, and allocate. */
    int ok = 0;
    for (int c = 0; c < 40; c++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *a = malloc(3000), *b = aligned_alloc(256, 4096);
            int good = a && b && (uintptr_t)b % 256 == 0;
            free(a);
            free(b);
            _exit(good ? 0 : 1);
        }
        int status;
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            ok++;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    if (mailbox.block)
        free(mailbox.block);
    printf("checksums %llx %llx\nchildren %d ok\n", (unsigned long long)w[0].checksum,
           (unsigned long long)w[1].checksum, ok);
    return 0;
}

/* Generation after generation of two workers, none forking: the arenas the
 * earlier ones left are taken again. */
static int generations(int count, long steps)
{
    uint64_t total = 0;
    for (int g = 0; g < count; g++) {
        worker w[2] = {{0, steps, 0x9e3779b97f4a7c15ull + g, 0}, {1, steps, 0xd1b54a32d192ed03ull + g, 0}};
        pthread_t t[2];
        pthread_barrier_init(&start, NULL, 2);
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, work, &w[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&start);
        total = total * 31 + w[0].checksum + w[1].checksum;
        if (mailbox.block) {
            free(mailbox.block);
            mailbox.block = NULL;
        }
    }
    printf("generations %d: %llx\n", count, (unsigned long long)total);
    return 0;
}

/* ---- double_free ---------------------------------------------------------- */

static char *first_block; /* from the process heap, near the break */
static int culprit_found;
static void (*volatile free_fn)(void *) = free; /* a double free gcc cannot see */

static int far_from_break(const void *p)
{
    intptr_t d = (const char *)p - first_block;
    return d > ((intptr_t)1 << 30) || d < -((intptr_t)1 << 30);
}

/* Both threads allocate until one of them (the one that met the other on
 * the lock, under HMM) gets a block away from the break: that one frees it
 * twice. */
static void *hammer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    time_t deadline = time(NULL) + 10;
    for (long s = 0;; s++) {
        char *p = malloc(2000);
        if (!p)
            die("malloc", 2000);
        if (far_from_break(p) && !__atomic_exchange_n(&culprit_found, 1, __ATOMIC_ACQ_REL)) {
            printf("%p\n", (void *)p);
            fflush(stdout);
            free_fn(p);
            free_fn(p); /* the misuse */
            return NULL;
        }
        free(p);
        if (workers_done)
            return NULL;
        if ((s & 1023) == 0 && time(NULL) > deadline) {
            puts("no block away from the break");
            exit(3);
        }
    }
}

static int double_free(void)
{
    first_block = malloc(2000);
    pthread_t t[2];
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    while (!__atomic_load_n(&culprit_found, __ATOMIC_ACQUIRE))
        usleep(1000);
    workers_done = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    puts("survived");
    return 0;
}

int main(int argc, char **argv)
{
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "run")) {
        if (argc == 4 && mallopt(M_ARENA_MAX, atoi(argv[3])) != 1)
            die("mallopt(M_ARENA_MAX)", 0);
        return run(atol(argv[2]));
    }
    if (argc == 4 && !strcmp(argv[1], "generations"))
        return generations(atoi(argv[2]), atol(argv[3]));
    if (argc == 2 && !strcmp(argv[1], "double_free"))
        return double_free();
    fprintf(stderr, "usage: %s run STEPS [ARENA_MAX] | generations G STEPS | double_free\n", argv[0]);
    return 2;
}
