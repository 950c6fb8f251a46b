/*
 * cancel_malloc_stats.c - a thread cancelled while malloc_stats() writes.
 *
 * malloc_stats() writes to stderr, and write() is a cancellation point.  A
 * thread calls it with stderr on a full pipe, so the write blocks; the main
 * thread cancels it, then drains the pipe.  Wherever the cancellation takes
 * effect (glibc turns it off while it prints, so at the next cancellation
 * point), the thread must leave no allocator state behind: its exit frees
 * its thread-local memory, and the process goes on allocating.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *reporter(void *arg)
{
    (void)arg;
    for (;;) {
        void *p = malloc(100);
        malloc_stats();
        free(p);
        pthread_testcancel();
    }
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(void)
{
    /* The first pthread_cancel loads the unwinder (dlopen, which allocates):
     * do it now, before the reporter holds glibc's arena lock across a
     * blocked write. */
    pthread_t warm;
    pthread_create(&warm, NULL, sleeper, NULL);
    pthread_cancel(warm);
    pthread_join(warm, NULL);

    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 2;
    /* Fill the pipe, so that the reporter's first write blocks. */
    fcntl(pipefd[1], F_SETFL, O_NONBLOCK);
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    while (write(pipefd[1], junk, sizeof junk) > 0)
        ;
    fcntl(pipefd[1], F_SETFL, 0);
    int saved_stderr = dup(2);
    dup2(pipefd[1], 2);

    pthread_t t;
    pthread_create(&t, NULL, reporter, NULL);
    usleep(100 * 1000);
    pthread_cancel(t);
    /* Drain the pipe until the thread is gone. */
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    void *result = NULL;
    while (pthread_tryjoin_np(t, &result) != 0) {
        while (read(pipefd[0], junk, sizeof junk) > 0)
            ;
        usleep(1000);
    }
    dup2(saved_stderr, 2);

    /* The process goes on: threads come and go, and allocate. */
    for (int i = 0; i < 20; i++) {
        pthread_t u;
        pthread_create(&u, NULL, (void *(*)(void *))malloc, (void *)(size_t)(100 + i));
        void *p;
        pthread_join(u, &p);
        free(p);
    }
    printf("reporter thread %s; allocation goes on\n",
           result == PTHREAD_CANCELED ? "cancelled" : "NOT cancelled");
    return result != PTHREAD_CANCELED;
}
