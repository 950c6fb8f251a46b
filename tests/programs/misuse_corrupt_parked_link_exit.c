/*
 * misuse_corrupt_parked_link_exit.c - a write after free over the link of a
 * block parked in a thread's cache, found when the thread exits.
 *
 * A thread frees ten malloc(40) blocks (they park in its cache, the last
 * one freed at the head of the bin), writes over the head's link, and
 * exits: its cache goes back to the heap, under the heap's lock, and the
 * walk meets the broken link.  HMM must report it, not wait for the lock
 * it holds: hmm: free(): corrupted free list at P
 */
#include <pthread.h>
#include <string.h>

#include "misuse.h"

static void *thread(void *arg)
{
    (void)arg;
    char *blocks[10];
    for (int i = 0; i < 10; i++)
        blocks[i] = malloc(40);
    for (int i = 0; i < 10; i++)
        free_fn(blocks[i]);
    printf("%p\n", (void *)blocks[9]);
    fflush(stdout);
    memset(hide(blocks[9]), 0x41, 8);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, thread, NULL);
    pthread_join(t, NULL);
    puts("survived");
    return 0;
}
