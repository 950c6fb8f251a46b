/*
 * free_all_rss.c - how much memory a program keeps once it has freed
 * everything, without malloc_trim.
 *
 * Allocates a million small blocks of mixed sizes (MIN..600 bytes) with a
 * medium one (1..64 KiB) every 500, writing every byte, then frees them all
 * in the order asked for, and reads VmRSS (with read(2): stdio would
 * allocate, and its buffer could pin the heap's top).
 *
 *   free_all_rss ORDER [MIN]     ORDER: forward, alternate (even blocks,
 *                                then odd), backward or random
 *
 * stdout: facts that hold whatever the allocator.  stderr: "rss_kib N", the
 * resident set after the frees, for the test to compare.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facts.h"
#include "proc_status.h"

#define BLOCKS 1000000

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static unsigned char *blocks[BLOCKS];
static size_t order[BLOCKS];

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "forward";
    size_t min = argc > 2 ? strtoul(argv[2], NULL, 10) : 16;
    if (min < 1 || min > 600) {
        fprintf(stderr, "usage: %s forward|alternate|backward|random [MIN 1..600]\n", argv[0]);
        return 2;
    }
    /* Printed first, so that stdout's buffer is allocated below the blocks
     * (allocated after them, it would be the top of the heap, in use). */
    printf("free everything, %s, small blocks from %zu bytes\n", how, min);
    int ok = 1;
    for (size_t i = 0; i < BLOCKS && ok; i++) {
        size_t size = i % 500 == 499 ? 1024 + next() % (63 * 1024) : min + next() % (601 - min);
        blocks[i] = malloc(size);
        ok = blocks[i] != NULL;
        if (ok)
            memset(blocks[i], (int)(i & 0xff), size);
    }
    check(ok, "%d blocks of %zu..600 bytes and 1..64 KiB allocated, every byte written", BLOCKS, min);

    for (size_t k = 0; k < BLOCKS; k++) {
        if (!strcmp(how, "forward"))
            order[k] = k;
        else if (!strcmp(how, "alternate"))
            order[k] = k < BLOCKS / 2 ? 2 * k : 2 * (k - BLOCKS / 2) + 1;
        else
            order[k] = BLOCKS - 1 - k;
    }
    if (!strcmp(how, "random"))
        for (size_t i = BLOCKS - 1; i > 0; i--) {
            size_t j = next() % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    int intact = 1;
    for (size_t k = 0; k < BLOCKS; k++) {
        size_t i = order[k];
        intact &= blocks[i][0] == (unsigned char)(i & 0xff);
        free(blocks[i]);
    }
    check(intact, "every block held its bytes until freed (%s)", how);
    fprintf(stderr, "rss_kib %ld\n", status_kib("VmRSS:"));
    return status;
}
