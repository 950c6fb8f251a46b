/* trace_early.c - linked with trace_early_lib.c: see there. */
#include <stdio.h>
#include <stdlib.h>

extern void *early_blocks[12000];

int main(void)
{
    int live = 0;
    for (int i = 0; i < 12000; i++)
        live += early_blocks[i] != NULL && i % 2;
    printf("%d blocks allocated before main, still live\n", live);
    return 0;
}
