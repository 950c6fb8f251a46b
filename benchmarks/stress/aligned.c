/*
 * aligned.c - aligned allocations, 16 to 4096 bytes of alignment.
 *
 * A live set of LIVE blocks is replaced at random, alternating
 * posix_memalign and aligned_alloc (whose size is a multiple of the
 * alignment, as C11 asks), with alignments 16, 32, ..., 4096 and sizes up
 * to 8 KiB.  Every pointer is checked: a misaligned one ends the program
 * with status 1.
 *
 *     aligned [STEPS]
 */
#include "aligned.h"

#define LIVE 4096

int main(int argc, char **argv)
{
    long steps = scale_arg(argc, argv, 1000000);
    static unsigned char *live[LIVE];
    static size_t sizes[LIVE];
    rng_t rng;
    rng_seed(&rng, 5);
    uint64_t checksum = aligned_churn(live, sizes, LIVE, steps, &rng);
    report("aligned", checksum, steps);
    return 0;
}
