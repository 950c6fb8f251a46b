/*
 * option_defaults.c - leaves behind, at exit, what the HMM_TCACHE and
 * HMM_MMAP_THRESHOLD in force decide, so that the stats show which values
 * the library applied:
 *
 *   option_defaults BLOCKS THRESHOLD
 *
 * makes BLOCKS blocks of 40 bytes and frees them all (the thread cache
 * parks as many as its limit; one more, and it gives some back), then keeps a
 * block of THRESHOLD bytes and one of THRESHOLD - 4096 to the end (only the
 * first reaches the mmap threshold, if THRESHOLD is it).
 *
 * Prints "ok" and exits 0, or says what went wrong and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return fprintf(stderr, "usage: %s BLOCKS THRESHOLD\n", argv[0]), 2;
    /* The list is no block of the heap: freed, it would be parked too. */
    static void *small[4096];
    size_t blocks = strtoul(argv[1], NULL, 10);
    size_t threshold = strtoul(argv[2], NULL, 10);
    if (blocks > sizeof small / sizeof small[0] || threshold <= 4096)
        return puts("FAILED: BLOCKS or THRESHOLD out of range"), 1;
    /* Too big for the thread cache when allocated, so that no malloc
     * refills its bin: the bin is empty until the frees below. */
    for (size_t i = 0; i < blocks; i++)
        if (!(small[i] = malloc(2000)) || !(small[i] = realloc(small[i], 40)))
            return puts("FAILED: malloc(2000) or realloc to 40"), 1;
    for (size_t i = 0; i < blocks; i++)
        free(small[i]);

    static char *volatile kept[2]; /* live at exit, for the stats */
    kept[0] = malloc(threshold);
    kept[1] = malloc(threshold - 4096);
    if (!kept[0] || !kept[1])
        return puts("FAILED: the large blocks"), 1;
    memset(kept[0], 1, threshold);
    memset(kept[1], 2, threshold - 4096);
    puts("ok");
    return 0;
}
