/*
 * misuse_free_misaligned.c - frees p + 1 of a live malloc(40) block p.
 * HMM must say: hmm: free(): invalid pointer P+1 (inside the block at P of 48 bytes)
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    char *p = malloc(40);
    sink = p;
    printf("%p\n%p\n", (void *)p, (void *)(p + 1));
    fflush(stdout);
    free_fn(p + 1);
    puts("survived");
    return 0;
}
