/*
 * misuse_free_global.c - frees a global array.
 * HMM must say: hmm: free(): invalid pointer P (not a block from this heap)
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;

static _Alignas(16) char global[64] = "a global";

int main(void)
{
    printf("%p\n", (void *)global);
    fflush(stdout);
    free_fn(global);
    puts("survived");
    return 0;
}
