/*
 * misuse_free_after_realloc.c - frees p after realloc(p, 200000) moved it
 * (into a mapping of its own), so p's 48-byte block was already freed.
 * HMM must say: hmm: free(): double free of P (block of 48 bytes)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "misuse.h"

static void *(*volatile realloc_fn)(void *, size_t) = realloc;

int main(void)
{
    char *p = guarded_block(40);
    memset(p, 'x', 40);
    char *q = realloc_fn(p, 200000);
    if (q == p)
        return 2;               /* not moved: nothing to test */
    sink = q;
    free_fn(p);
    puts("survived");
    return 0;
}
