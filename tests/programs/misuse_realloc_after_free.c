/*
 * misuse_realloc_after_free.c - reallocs a malloc(40) block after freeing it.
 * HMM must say: hmm: realloc(): use after free of P (block of 48 bytes)
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    sink = malloc(40);
    char *p = malloc(40);
    sink = malloc(40);
    printf("%p\n", (void *)p);
    fflush(stdout);
    free_fn(p);
    sink = realloc_fn(p, 80);
    puts("survived");
    return 0;
}
