/*
 * misuse_corrupt_header_overflow.c - writes 56 bytes into a malloc(40) block
 * p, over both header words of the next block q, then frees q.
 * HMM must say: hmm: free(): corrupted block header at Q
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*volatile free_fn)(void *) = free;

/* Hides where a pointer came from, so gcc does not see the overflow. */
__attribute__((noinline)) static char *hide(char *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

/* Two malloc(40) blocks side by side, p then q: the allocator may hand
 * out blocks in any order, so take ten and look for a pair. */
static void neighbours(char **p, char **q)
{
    char *blocks[10];
    for (int i = 0; i < 10; i++)
        blocks[i] = malloc(40);
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++)
            if (blocks[j] == blocks[i] + 48) {
                *p = blocks[i];
                *q = blocks[j];
                return;
            }
    puts("no two blocks side by side");
    exit(2);
}

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
