/*
 * replace.c - with LIVE blocks allocated, free a random one and allocate a
 * new one in its place, N times.  Which block and what size (16..512) come
 * from tables computed before the loop, so that the loop is only the free
 * and the malloc.
 *
 *     replace LIVE N
 */
#include "micro.h"

#define TABLE 4096   /* a power of two */

int main(int argc, char **argv)
{
    long live_count = iterations(argc, argv, 1);
    long n = iterations(argc, argv, 2);
    void **live = must(malloc(live_count * sizeof *live));
    uint32_t *slot = must(malloc(TABLE * sizeof *slot));
    size_t *size = must(malloc(TABLE * sizeof *size));
    uint32_t state = 777;
    for (long i = 0; i < live_count; i++)
        live[i] = must(malloc(small_size(&state)));
    for (int i = 0; i < TABLE; i++) {
        slot[i] = lcg(&state) % (uint32_t)live_count;
        size[i] = small_size(&state);
    }
    /* The table repeats every TABLE steps, but each lap starts from a
     * different heap, so the blocks found are not the same ones. */
    for (long i = 0; i < n; i++) {
        uint32_t k = slot[i & (TABLE - 1)];
        free(live[k]);
        live[k] = must(malloc(size[(i + (i >> 12)) & (TABLE - 1)]));
    }
    keep(live);
    for (long i = 0; i < live_count; i++)
        free(live[i]);
    free(live);
    free(slot);
    free(size);
    return 0;
}
