/*
 * misuse_free_inside_free.c - frees a + 256 after the 4000-byte block a was
 * freed (too big for a thread cache, so it is free heap memory; b keeps it
 * from merging into the top).
 * HMM must say: hmm: free(): invalid pointer A+256 (inside free memory)
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    char *a = malloc(4000);
    sink = malloc(40);          /* the guard block b */
    printf("%p\n", (void *)(a + 256));
    fflush(stdout);
    free_fn(a);
    free_fn(a + 256);
    puts("survived");
    return 0;
}
