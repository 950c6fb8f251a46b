/*
 * batch.c - 64 blocks of mixed small sizes allocated, then all freed, N
 * times.  The 64 sizes (16..512) are fixed before the loop.
 *
 *     batch N        (the cost per operation is per malloc + free)
 */
#include "micro.h"

#define BATCH 64

int main(int argc, char **argv)
{
    long n = iterations(argc, argv, 1);
    size_t sizes[BATCH];
    void *blocks[BATCH];
    uint32_t state = 12345;
    for (int i = 0; i < BATCH; i++)
        sizes[i] = small_size(&state);
    for (long r = 0; r < n; r++) {
        for (int i = 0; i < BATCH; i++)
            blocks[i] = must(malloc(sizes[i]));
        keep(blocks);
        for (int i = 0; i < BATCH; i++)
            free(blocks[i]);
    }
    return 0;
}
