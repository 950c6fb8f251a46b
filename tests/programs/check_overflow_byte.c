/*
 * check_overflow_byte.c - run with HMM_CHECK=1: writes one byte past a
 * malloc(40) block p, then frees it.
 * HMM must say: hmm: free(): buffer overflow at P+40 (past the 40 bytes of P)
 */
#include <stdio.h>
#include <stdlib.h>

#include "misuse.h"

int main(void)
{
    char *p = malloc(40);
    printf("%p\n", (void *)p);
    fflush(stdout);
    hide(p)[40] = 'x';
    free_fn(p);
    puts("survived");
    return 0;
}
