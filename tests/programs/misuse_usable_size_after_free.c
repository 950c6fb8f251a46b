/*
 * misuse_usable_size_after_free.c - asks malloc_usable_size of a freed block.
 * HMM must say: hmm: malloc_usable_size(): use after free of P (block of 48 bytes)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static size_t (*volatile usable_fn)(void *) = malloc_usable_size;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    sink = malloc(40);
    char *p = malloc(40);
    sink = malloc(40);
    printf("%p\n", (void *)p);
    fflush(stdout);
    free_fn(p);
    printf("%zu\n", usable_fn(p));
    puts("survived");
    return 0;
}
