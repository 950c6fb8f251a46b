/*
 * misuse_double_free_after_frees.c - frees p and q, then 100 other blocks of
 * the same size (the thread cache overflows and flushes), then p again.
 * HMM must say: hmm: free(): double free of P (block of N bytes), N >= 48 (p may have merged)
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    char *p = malloc(40), *q = malloc(40), *r = malloc(40), *other[100];
    for (int i = 0; i < 100; i++)
        other[i] = malloc(40);
    sink = r;
    printf("%p\n", (void *)p);
    fflush(stdout);
    free_fn(p);
    free_fn(q);
    for (int i = 0; i < 100; i++)
        free_fn(other[i]);
    free_fn(p);
    puts("survived");
    return 0;
}
