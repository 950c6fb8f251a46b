/*
 * fork_atfork.c - fork while another library's fork handlers allocate and
 * other threads allocate, with and without that library's lock held.
 *
 * Linked against atfork_lib.c (built as a shared library), whose
 * constructor registers its handlers before a preloaded allocator's
 * constructor runs.  Two threads allocate without pause, one of them inside
 * the library's lock; the main thread forks FORKS times, and each child
 * allocates and exits.  A deadlock is a hang; the test gives up on it.
 *
 * Usage: fork_atfork [forks]   (default 300)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forks.h"

void lib_work(unsigned i);
unsigned long lib_forks_seen(void);

static volatile int stop;

static void *in_library(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !stop; i++)
        lib_work(i);
    return NULL;
}

static void *plain(void *arg)
{
    (void)arg;
    void *keep[64] = {0};
    for (unsigned i = 0; !stop; i++) {
        unsigned k = i % 64;
        free(keep[k]);
        keep[k] = malloc(1 + (i * 37) % 5000);
    }
    for (unsigned k = 0; k < 64; k++)
        free(keep[k]);
    return NULL;
}

static void child(void)
{
    char *p = malloc(1000);
    if (!p)
        _exit(3);
    memset(p, 1, 1000);
    free(p);
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 300;
    pthread_t a, b;
    pthread_create(&a, NULL, in_library, NULL);
    pthread_create(&b, NULL, plain, NULL);
    int bad = fork_children(forks, child);
    if (bad < 0)
        return 2;
    stop = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%d forks, %lu seen by the library's handlers, %d children failed\n", forks,
           lib_forks_seen(), bad);
    return bad != 0;
}
