/*
 * misuse_corrupt_header_nul.c - writes one NUL just past a malloc(40) block
 * p: p[40] is the low byte of the next block q's size word. Then frees q.
 * HMM must say: hmm: free(): corrupted block header at Q
 */
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

int main(void)
{
    char *p, *q;
    neighbours(&p, &q);
    printf("%p\n%p\n", (void *)p, (void *)q);
    fflush(stdout);
    hide(p)[40] = '\0';
    free_fn(q);
    puts("survived");
    return 0;
}
