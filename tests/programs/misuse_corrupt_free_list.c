/*
 * misuse_corrupt_free_list.c - run with HMM_TCACHE=0: frees a malloc(40)
 * block p (between live blocks, so it sits in the heap's free lists), writes
 * 0x41 over its two link words, then allocates that size twice.
 * HMM must say: hmm: malloc(): corrupted free list at P
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    sink = malloc(40);
    char *p = malloc(40);
    for (int i = 0; i < 40; i++)
        sink = malloc(40);
    printf("%p\n", (void *)p);
    fflush(stdout);
    free_fn(p);
    memset(p, 0x41, 16);
    sink = malloc(40);
    sink = malloc(40);
    puts("survived");
    return 0;
}
