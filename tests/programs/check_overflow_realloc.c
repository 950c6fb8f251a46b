/*
 * check_overflow_realloc.c - run with HMM_CHECK=1: writes one byte past a
 * malloc(40) block p, then reallocs it to 200 bytes.
 * HMM must say: hmm: realloc(): buffer overflow at P+40 (past the 40 bytes of P)
 */
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

static void *(*volatile realloc_fn)(void *, size_t) = realloc;

int main(void)
{
    char *p = malloc(40);
    printf("%p\n", (void *)p);
    fflush(stdout);
    hide(p)[40] = 1;
    sink = realloc_fn(p, 200);
    puts("survived");
    return 0;
}
