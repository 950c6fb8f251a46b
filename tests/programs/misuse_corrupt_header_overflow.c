/*
 * misuse_corrupt_header_overflow.c - writes 56 bytes into a malloc(40) block
 * p, over both header words of the next block q, then frees q.
 * HMM must say: hmm: free(): corrupted block header at Q
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "misuse.h"

int main(void)
{
    char *p, *q;
    neighbours(&p, &q);
    printf("%p\n%p\n", (void *)p, (void *)q);
    fflush(stdout);
    memset(hide(p), 'A', 48 + 8);
    free_fn(q);
    puts("survived");
    return 0;
}
