/*
 * check_write_after_free.c - run with HMM_CHECK=1: frees a malloc(40) block
 * p, writes p[20], then mallocs 40 bytes (check mode hands p out again).
 * HMM must say: hmm: malloc(): write after free at P+20
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink;

int main(void)
{
    char *p = malloc(40);
    printf("%p\n", (void *)p);
    fflush(stdout);
    free_fn(p);
    p[20] = 'x';
    sink = malloc(40);
    puts("survived");
    return 0;
}
