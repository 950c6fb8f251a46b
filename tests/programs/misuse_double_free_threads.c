/*
 * misuse_double_free_threads.c - two threads free the same malloc(40)
 * block, one after the other: the first parks it in its thread cache, the
 * second must still see that it is free.
 * HMM must say: hmm: free(): double free of P (block of 48 bytes)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

static void *free_it(void *p)
{
    free_fn(p);
    return NULL;
}

int main(void)
{
    char *p = guarded_block(40);
    for (int i = 0; i < 2; i++) {
        pthread_t t;
        pthread_create(&t, NULL, free_it, p);
        pthread_join(t, NULL);
    }
    puts("survived");
    return 0;
}
