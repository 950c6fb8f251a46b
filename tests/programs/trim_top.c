/*
 * trim_top.c - freeing the top of the heap moves the break back down.
 *
 * Allocates 16 MiB in 64 KiB blocks, frees them, and prints how far the
 * break had grown and how far above the start it is afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT 256
#define SIZE (64 * 1024)

int main(void)
{
    free(malloc(16)); /* the heap exists */
    char *start = sbrk(0);
    char *blocks[COUNT];
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = malloc(SIZE);
        if (!blocks[i])
            return 1;
        memset(blocks[i], i, SIZE);
    }
    char *grown = sbrk(0);
    for (int i = COUNT - 1; i >= 0; i--)
        free(blocks[i]);
    char *after = sbrk(0);
    printf("%ld %ld\n", (long)(grown - start), (long)(after - start));
    return 0;
}
