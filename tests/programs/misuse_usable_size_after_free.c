/*
 * misuse_usable_size_after_free.c - asks malloc_usable_size of a freed block.
 * HMM must say: hmm: malloc_usable_size(): use after free of P (block of 48 bytes)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

static size_t (*volatile usable_fn)(void *) = malloc_usable_size;

int main(void)
{
    char *p = guarded_block(40);
    free_fn(p);
    printf("%zu\n", usable_fn(p));
    puts("survived");
    return 0;
}
