/*
 * misuse_double_free_medium.c - frees a malloc(1000) block twice; its
 * neighbours stay in use, so it merges with nothing, and its size is above
 * the thread caches', so the first free goes to the heap.
 * HMM must say: hmm: free(): double free of P (block of 1008 bytes)
 */
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

int main(void)
{
    char *p = guarded_block(1000);
    free_fn(p);
    free_fn(p);
    puts("survived");
    return 0;
}
