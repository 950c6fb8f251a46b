/*
 * check_heap_check.c - run with HMM_CHECK=2 HMM_CHECK_EVERY=100: writes into
 * the middle of a freed 5000-byte block that is never handed out again
 * (a freed 16-byte block serves the churn), then churns malloc/free(16).
 * HMM must say: hmm: <call>(): heap check failed: write after free at A
 */
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink;     /* stores here keep blocks alive */

int main(void)
{
    sink = malloc(64);
    char *big = malloc(5000);
    sink = malloc(64);
    char *small = malloc(16);
    sink = malloc(64);
    printf("%p\n", (void *)(big + 2500));
    fflush(stdout);
    free_fn(big);
    free_fn(small);
    big[2500] = 'x';
    for (int i = 0; i < 1000; i++)
        free_fn(sink = malloc(16));
    puts("survived");
    return 0;
}
