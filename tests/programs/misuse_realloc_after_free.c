/*
 * misuse_realloc_after_free.c - reallocs a malloc(40) block after freeing it.
 * HMM must say: hmm: realloc(): use after free of P (block of 48 bytes)
 */
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

static void *(*volatile realloc_fn)(void *, size_t) = realloc;

int main(void)
{
    char *p = guarded_block(40);
    free_fn(p);
    sink = realloc_fn(p, 80);
    puts("survived");
    return 0;
}
