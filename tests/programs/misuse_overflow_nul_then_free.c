/*
 * misuse_overflow_nul_then_free.c - writes one NUL just past a malloc(40)
 * block p: p[40] is the low byte of the next block q's size word.  Then
 * frees p itself, the block that overflowed (a small block: the thread
 * cache's free takes it, unless it looks at q's header).
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
    free_fn(p);
    puts("survived");
    return 0;
}
