/*
 * misuse_double_free_large.c - frees a 1 MiB block (a mapping of its own)
 * twice. Prints p and, in hex, its usable size (the block is that plus its
 * 16-byte header).
 * HMM must say: hmm: free(): double free of P (block of N bytes)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

static void (*volatile free_fn)(void *) = free;

int main(void)
{
    char *p = malloc(1 << 20);
    printf("%p\n%#zx\n", (void *)p, malloc_usable_size(p));
    fflush(stdout);
    free_fn(p);
    free_fn(p);
    puts("survived");
    return 0;
}
