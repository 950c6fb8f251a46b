/*
 * trace_early_lib.c - a library whose constructor allocates a lot before
 * the preloaded recorder's constructor runs (as large C++ static
 * initialisers do): the recorder keeps those calls in memory until its file
 * opens, and then writes them all (trace_early.c is the program).
 */
#include <stdlib.h>

void *early_blocks[12000];

__attribute__((constructor)) static void allocate_early(void)
{
    for (int i = 0; i < 12000; i++)
        early_blocks[i] = malloc(16 + (i % 200));
    for (int i = 0; i < 12000; i += 2)
        free(early_blocks[i]);
}
