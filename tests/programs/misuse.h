/*
 * misuse.h - what the misuse programs share: ways to commit a bug that the
 * compiler cannot see (and so cannot optimise away or warn about), a block
 * between two live ones, and a pair of blocks side by side.
 */
#ifndef MISUSE_H
#define MISUSE_H

#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;
static void *volatile sink; /* stores here keep blocks alive */

/* A malloc(n) block between two live ones, so that freeing it merges with
 * nothing; its address is printed (the test reads it) before the misuse. */
__attribute__((unused)) static char *guarded_block(size_t n)
{
    sink = malloc(n);
    char *p = malloc(n);
    sink = malloc(n);
    printf("%p\n", (void *)p);
    fflush(stdout);
    return p;
}

/* Hides where a pointer came from, so gcc does not see the overflow. */
__attribute__((noinline, unused)) static char *hide(char *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

/* Two malloc(40) blocks side by side, p then q: the allocator may hand
 * out blocks in any order, so take ten and look for a pair. */
__attribute__((unused)) static void neighbours(char **p, char **q)
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

#endif
