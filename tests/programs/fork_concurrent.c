/*
 * fork_concurrent.c - several threads forking at once while another
 * allocates.
 *
 * glibc runs the fork handlers of two threads' forks at the same time, so
 * whatever a prepare handler took must be given back by the parent handler
 * of the same thread's fork.  Each of FORKERS threads forks COUNT times;
 * each child allocates and exits.
 *
 * Usage: fork_concurrent [count]   (default 300)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forks.h"

#define FORKERS 4

static volatile int stop;
static int count;

static void child(void)
{
    char *p = malloc(500);
    if (!p)
        _exit(3);
    memset(p, 2, 500);
    free(p);
}

static void *forker(void *arg)
{
    (void)arg;
    return (void *)(long)fork_children(count, child);
}

static void *allocator(void *arg)
{
    (void)arg;
    void *keep[32] = {0};
    for (unsigned i = 0; !stop; i++) {
        free(keep[i % 32]);
        keep[i % 32] = malloc(1 + (i * 97) % 3000);
    }
    for (unsigned k = 0; k < 32; k++)
        free(keep[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    count = argc > 1 ? atoi(argv[1]) : 300;
    pthread_t a, f[FORKERS];
    pthread_create(&a, NULL, allocator, NULL);
    for (int i = 0; i < FORKERS; i++)
        pthread_create(&f[i], NULL, forker, NULL);
    long bad = 0;
    for (int i = 0; i < FORKERS; i++) {
        void *failed;
        pthread_join(f[i], &failed);
        bad += (long)failed;
    }
    stop = 1;
    pthread_join(a, NULL);
    printf("%d threads forked %d times each, %ld children failed\n", FORKERS, count, bad);
    return bad != 0;
}
