/*
 * check_free_after_mremap.c - in check mode, realloc resizes a mapped block
 * with mremap rather than copying it; when that moves the block, the old
 * pointer is stale, and freeing it must still be named a double free.
 *
 * Grows a 1 MiB block until realloc moves it, prints the old pointer, then
 * frees it.  HMM must say: hmm: free(): double free of P (...)
 * Exit 2 when realloc never moved the block (nothing tested).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void (*volatile free_fn)(void *) = free;

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    size_t size = 1 << 20;
    char *p = malloc(size);
    if (!p)
        return 1;
    memset(p, 'x', size);
    /* Something mapped after the block keeps it from growing in place. */
    void *neighbour = malloc(1 << 20);
    for (int i = 0; i < 64; i++) {
        char *q = realloc_fn(p, size + (1 << 20));
        if (!q)
            return 1;
        size += 1 << 20;
        if (q != p) {
            if (q[0] != 'x' || q[(1 << 20) - 1] != 'x') {
                puts("contents lost");
                return 1;
            }
            printf("%p\n", (void *)p);
            free_fn(p);
            puts("survived");
            free(q);
            free(neighbour);
            return 0;
        }
    }
    return 2;
}
