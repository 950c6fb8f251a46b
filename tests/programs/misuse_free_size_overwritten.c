/*
 * misuse_free_size_overwritten.c - frees a malloc(2020) block (too big for
 * the thread caches: it goes to the heap's free blocks), then writes 0 over
 * its size word (a write after free), then asks for malloc(2020) again.
 * Its block, 2032 bytes, is in the segregated class [2016, 2048): the
 * request's own class, whose head is read and compared before a search
 * moves on to the classes that surely fit, from 2048 up.
 * HMM must say: hmm: malloc(): corrupted block header at P
 * (glibc: malloc(): invalid size (unsorted))
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "misuse.h"

int main(void)
{
    char *p = guarded_block(2020);
    free_fn(p);
    memset(hide(p) - sizeof(size_t), 0, sizeof(size_t)); /* the size word */
    sink = malloc(2020);
    puts("survived");
    return 0;
}
