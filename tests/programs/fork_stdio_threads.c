/*
 * fork_stdio_threads.c - fork while other threads use stdio (glibc bug
 * 19431's pattern).
 *
 * One thread grows buffers under a stream's lock (getline does its realloc
 * holding the FILE lock; this thread also does so by hand with flockfile),
 * another flushes every stream (fflush(NULL) holds stdio's list lock and
 * waits for each stream's lock), and the main thread forks.  An allocator
 * that takes its lock in fork before glibc takes the list lock closes the
 * cycle: fork holds the allocator's lock and waits for the list lock, the
 * flusher holds that and waits for the stream, the stream's owner holds
 * that and waits for the allocator.
 *
 * Usage: fork_stdio_threads [forks]   (default 2000)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forks.h"

static volatile int stop;
static FILE *stream;

static void *grower(void *arg)
{
    (void)arg;
    static char text[] = "a line that getline reads into a buffer it grows\n";
    char *buf = NULL;
    for (unsigned i = 0; !stop; i++) {
        /* getline reallocs under the lock of the stream it reads */
        FILE *in = fmemopen(text, sizeof text - 1, "r");
        char *line = NULL;
        size_t cap = 0;
        if (in) {
            while (getline(&line, &cap, in) > 0)
                ;
            fclose(in);
        }
        free(line);
        /* and the same by hand, on a stream that stays on the list */
        flockfile(stream);
        char *bigger = realloc(buf, 64 + (i % 4096));
        if (bigger)
            buf = bigger;
        funlockfile(stream);
    }
    free(buf);
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!stop)
        fflush(NULL);
    return NULL;
}

static void child(void)
{
    char *p = malloc(100);
    fputs("child\n", stream);
    free(p);
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 2000;
    stream = fopen("/dev/null", "w");
    if (!stream) {
        perror("/dev/null");
        return 2;
    }
    pthread_t a, b;
    pthread_create(&a, NULL, grower, NULL);
    pthread_create(&b, NULL, flusher, NULL);
    int bad = fork_children(forks, child);
    if (bad < 0)
        return 2;
    stop = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    fclose(stream);
    printf("%d forks with stdio busy in two threads, %d children failed\n", forks, bad);
    return bad != 0;
}
