/*
 * copied_parked_mark.c - a valid free of a block that holds bytes copied
 * out of freed blocks (a read after free, but nothing the freed block's
 * next owner did wrong).  A thread cache marks a parked block in its second
 * payload word, as glibc's tcache does with its key; a copy of those bytes
 * is not a parked block, and freeing it is no double free.
 *   1. p is freed (parked); its bytes are read; malloc hands p out again
 *      and the program writes the bytes it read back into it: p holds the
 *      very mark it had when parked, at the same address.
 *   2. r is freed; its bytes are copied into a live block s.
 * Then p and s are freed, once each.  Prints "ok" and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "misuse.h"

int main(void)
{
    char saved[40];
    char *p = malloc(40);
    sink = malloc(40);
    free_fn(p);
    memcpy(saved, hide(p), sizeof saved); /* read after free */
    char *again = malloc(40);
    if (again != p) {
        puts("malloc did not hand p back: nothing tested");
        return 2;
    }
    memcpy(again, saved, sizeof saved);
    free_fn(again);

    char *r = malloc(40), *s = malloc(40);
    free_fn(r);
    memcpy(s, hide(r), 40); /* read after free */
    free_fn(s);
    puts("ok");
    return 0;
}
