/*
 * check_overflow_nul.c - run with HMM_CHECK=1: strcpy of a 13-character
 * string into malloc(13) writes its NUL one byte past the end; then free.
 * HMM must say: hmm: free(): buffer overflow at P+13 (past the 13 bytes of P)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "misuse.h"

int main(void)
{
    char *p = malloc(13);
    printf("%p\n", (void *)p);
    fflush(stdout);
    strcpy(hide(p), "hello, world!");
    free_fn(p);
    puts("survived");
    return 0;
}
