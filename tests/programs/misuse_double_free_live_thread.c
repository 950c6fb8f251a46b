/*
 * misuse_double_free_live_thread.c - a thread frees a malloc(40) block and
 * stays alive, the block parked in its thread cache; then the main thread
 * frees the block again.  The mark in the block says "parked"; the main
 * thread's free must find it in the other thread's bin.
 * HMM must say: hmm: free(): double free of P (block of 48 bytes)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int freed, done;

static void *free_and_wait(void *p)
{
    free_fn(p);
    pthread_mutex_lock(&lock);
    freed = 1;
    pthread_cond_broadcast(&changed);
    while (!done)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void)
{
    char *p = guarded_block(40);
    pthread_t t;
    pthread_create(&t, NULL, free_and_wait, p);
    pthread_mutex_lock(&lock);
    while (!freed)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    free_fn(p); /* the other thread is alive, p in its cache */
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    pthread_join(t, NULL);
    puts("survived");
    return 0;
}
