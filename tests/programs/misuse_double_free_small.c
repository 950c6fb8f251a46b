/*
 * misuse_double_free_small.c - frees a malloc(40) block twice; its
 * neighbours stay in use, so it cannot merge. Run with and without HMM_TCACHE=0.
 * HMM must say: hmm: free(): double free of P (block of 48 bytes)
 */
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

int main(void)
{
    char *p = guarded_block(40);
    free_fn(p);
    free_fn(p);
    puts("survived");
    return 0;
}
