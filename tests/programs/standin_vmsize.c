/*
 * standin_vmsize.c - with the break blocked, the virtual size stays in
 * proportion to what the heap holds.
 *
 * Blocks the break, then allocates about 200 MB in blocks of 16..512 bytes,
 * writing each, and reads VmSize.  stdout: facts that hold under either
 * allocator.  stderr: "vmsize_kib N", for the test to compare.
 */
#include "standin_break.h"

#include <stdint.h>

#include "facts.h"

#define TOTAL ((size_t)200 << 20)
#define MAX_BLOCKS 1000000

static char *blocks[MAX_BLOCKS];

int main(void)
{
    printf("200 MB of small blocks with the break blocked\n"); /* stdout's buffer first */
    if (block_the_break() != 0)
        return 1;
    uint64_t rng = 12345;
    size_t total = 0, n = 0;
    int ok = 1;
    while (total < TOTAL && n < MAX_BLOCKS && ok) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t size = 16 + (rng >> 33) % 497;
        blocks[n] = malloc(size);
        ok = blocks[n] != NULL;
        if (ok)
            memset(blocks[n], (int)(n & 0xff), size);
        total += size;
        n++;
    }
    check(ok && total >= TOTAL, "about 200 MB allocated in blocks of 16..512 bytes");
    long vmsize = status_kib("VmSize:");
    int intact = 1;
    for (size_t i = 0; i < n; i++) {
        intact &= blocks[i][0] == (char)(i & 0xff);
        free(blocks[i]);
    }
    check(intact, "every block held its bytes until freed");
    fprintf(stderr, "vmsize_kib %ld\n", vmsize);
    return status;
}
