/*
 * misuse_realloc_stack.c - reallocs an array on the stack.
 * HMM must say: hmm: realloc(): invalid pointer P (not a block from this heap)
 */
#include <stdio.h>
#include <stdlib.h>

static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void *volatile sink;

int main(void)
{
    _Alignas(16) char buf[64] = "on the stack";
    printf("%p\n", (void *)buf);
    fflush(stdout);
    sink = realloc_fn(buf, 100);
    puts("survived");
    return 0;
}
