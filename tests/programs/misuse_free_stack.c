/*
 * misuse_free_stack.c - frees an array on the stack.
 * HMM must say: hmm: free(): invalid pointer P (not a block from this heap)
 */
#include <stdio.h>
#include <stdlib.h>

/* Called through a volatile pointer: gcc can neither drop the call nor
 * warn that its argument is not from the heap. */
static void (*volatile free_fn)(void *) = free;

int main(void)
{
    _Alignas(16) char buf[64] = "on the stack";
    printf("%p\n", (void *)buf);
    fflush(stdout);
    free_fn(buf);
    puts("survived");
    return 0;
}
