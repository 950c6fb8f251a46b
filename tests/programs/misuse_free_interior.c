/*
 * misuse_free_interior.c - frees p + 16 of a live malloc(40) block p.
 * HMM must say: hmm: free(): invalid pointer P+16 (inside the block at P of 48 bytes)
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    char *p = malloc(40);
    sink = p;
    printf("%p\n%p\n", (void *)p, (void *)(p + 16));
    fflush(stdout);
    free_fn(p + 16);
    puts("survived");
    return 0;
}
