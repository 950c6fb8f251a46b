/*
 * misuse_double_free_small.c - frees a malloc(40) block twice; its
 * neighbours stay in use, so it cannot merge. Run with and without HMM_TCACHE=0.
 * HMM must say: hmm: free(): double free of P (block of 48 bytes)
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    sink = malloc(40);
    char *p = malloc(40);
    sink = malloc(40);
    printf("%p\n", (void *)p);
    fflush(stdout);
    free_fn(p);
    free_fn(p);
    puts("survived");
    return 0;
}
