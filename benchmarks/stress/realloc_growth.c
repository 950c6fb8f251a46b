/*
 * realloc_growth.c - buffers that grow by realloc, interleaved.
 *
 * Phase 1: BUFFERS strings grow one byte at a time, in turn, the way a
 * program appends to many growing strings at once (so a buffer usually
 * cannot grow where it is: its neighbour was allocated after it).
 * Phase 2: a few vectors grow by doubling up to 1 MiB, the way dynamic
 * arrays do, crossing the mmap threshold of most allocators.
 * Contents are checked after every move.
 *
 *     realloc_growth [ROUNDS]
 */
#include "stress.h"

#define BUFFERS 1000
#define BYTE_STEPS 600
#define VECTORS 8
#define VECTOR_MAX (1u << 20)

static unsigned char *grow(unsigned char *p, size_t n)
{
    unsigned char *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "realloc(%zu) failed\n", n);
        exit(1);
    }
    return q;
}

int main(int argc, char **argv)
{
    long rounds = scale_arg(argc, argv, 10);
    uint64_t checksum = 0;
    long ops = 0;
    static unsigned char *buf[BUFFERS];

    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < BUFFERS; i++)
            buf[i] = NULL;
        for (size_t len = 1; len <= BYTE_STEPS; len++) {
            for (int i = 0; i < BUFFERS; i++) {
                buf[i] = grow(buf[i], len);
                buf[i][len - 1] = (unsigned char)(i + len + r);
                ops++;
            }
        }
        for (int i = 0; i < BUFFERS; i++) {
            uint64_t s = 0;
            for (size_t k = 0; k < BYTE_STEPS; k++)
                s += buf[i][k];
            checksum = mix(checksum, s);
            free(buf[i]);
        }

        unsigned char *vec[VECTORS] = {0};
        size_t cap[VECTORS] = {0};
        for (size_t n = 16; n <= VECTOR_MAX; n *= 2) {
            for (int v = 0; v < VECTORS; v++) {
                vec[v] = grow(vec[v], n);
                for (size_t k = cap[v]; k < n; k += 32)
                    vec[v][k] = (unsigned char)(v + k / 32 + r);
                vec[v][n - 1] = (unsigned char)(v + r);   /* read by sum_fill */
                cap[v] = n;
                ops++;
            }
        }
        for (int v = 0; v < VECTORS; v++) {
            checksum = mix(checksum, sum_fill(vec[v], cap[v]));
            free(vec[v]);
        }
    }
    report("realloc_growth", checksum, ops);
    return 0;
}
