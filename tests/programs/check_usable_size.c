/*
 * check_usable_size.c - not a misuse: run with HMM_CHECK=1, prints
 * malloc_usable_size(malloc(13)), which check mode makes exactly 13.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

static size_t (*volatile usable_fn)(void *) = malloc_usable_size;

int main(void)
{
    char *p = malloc(13);
    printf("%zu\n", usable_fn(p));
    free(p);
    return 0;
}
