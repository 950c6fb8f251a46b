/*
 * misuse_double_free_top.c - frees a malloc(2000) block twice.  It is the
 * last block below the top of the heap, so the first free merges it into
 * the top: its header becomes the top's.  (Its size is above the thread
 * caches', so the free goes to the heap.)
 * HMM must say: hmm: free(): double free of P (now part of a free block of N bytes),
 * N the top's size, more than the block's 2016 bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

int main(void)
{
    /* stdout's buffer first, or it would land between p and the top. */
    puts("start");
    fflush(stdout);
    /* A size nothing freed before can serve: carved from the top. */
    char *p = malloc(2000);
    printf("%p\n", (void *)p);
    fflush(stdout);
    free_fn(p);
    free_fn(p);
    puts("survived");
    return 0;
}
