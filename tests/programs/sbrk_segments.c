/*
 * sbrk_segments.c - a program that moves the break itself between its
 * allocations, so that the heap is cut into many segments, then frees and
 * reallocs blocks of every one of them.
 *
 * Each of N rounds allocates a 100,000-byte block (more than the heap has
 * left at its top, so the heap must grow: a new segment above the program's
 * memory) and a 48-byte one, then takes 4 KiB with sbrk(2) and marks it.
 * Then every block is realloc'ed (shrunk, grown) and freed, in an order
 * that visits the segments back and forth.  Finding a pointer's segment
 * must not cost a step per segment: with thousands of segments, that made
 * this program quadratic.
 *
 * Usage: sbrk_segments N.  Prints facts that hold whatever the allocator,
 * and exits 1 if one does not.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facts.h"

#define BIG 100000
#define SMALL 48
#define MINE 4096

static unsigned char tag(size_t i, int which) { return (unsigned char)(i * 7 + which * 101 + 1); }

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    unsigned char **big = malloc(n * sizeof *big);
    unsigned char **small = malloc(n * sizeof *small);
    unsigned char **mine = malloc(n * sizeof *mine);
    if (!big || !small || !mine)
        return 1;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        big[i] = malloc(BIG);
        small[i] = malloc(SMALL);
        if (!big[i] || !small[i]) {
            ok = 0;
            break;
        }
        big[i][0] = big[i][BIG - 1] = tag(i, 0);
        memset(small[i], tag(i, 1), SMALL);
        mine[i] = sbrk(MINE);
        if (mine[i] == (void *)-1) {
            printf("sbrk failed in round %zu\n", i);
            return 1;
        }
        memset(mine[i], tag(i, 2), MINE);
    }
    check(ok, "%zu rounds of malloc(%d), malloc(%d), sbrk(%d)", n, BIG, SMALL, MINE);

    /* Shrink and grow every block: realloc must find each one's segment. */
    int kept = 1;
    for (size_t k = 0; k < n; k++) {
        size_t i = k % 2 ? n - 1 - k / 2 : k / 2; /* first, last, second, ... */
        unsigned char *b = realloc(big[i], BIG / 2);
        unsigned char *s = realloc(small[i], SMALL * 3);
        if (!b || !s) {
            kept = 0;
            break;
        }
        big[i] = b;
        small[i] = s;
        kept &= b[0] == tag(i, 0);
        for (int j = 0; j < SMALL; j++)
            kept &= s[j] == tag(i, 1);
    }
    check(kept, "every block shrunk or grown by realloc, its bytes kept");

    for (size_t k = 0; k < n; k++) {
        size_t i = k % 2 ? n - 1 - k / 2 : k / 2;
        free(small[i]);
        free(big[i]);
    }
    check(1, "%zu blocks freed", 2 * n);

    int untouched = 1;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < MINE; j++)
            untouched &= mine[i][j] == tag(i, 2);
    check(untouched, "the program's own sbrk memory untouched");

    /* The heap is whole again: a burst of blocks fits and holds its bytes. */
    int again = 1;
    for (size_t i = 0; i < n; i++) {
        big[i] = malloc(BIG / 4);
        if (!big[i]) {
            again = 0;
            break;
        }
        memset(big[i], tag(i, 3), BIG / 4);
    }
    for (size_t i = 0; again && i < n; i++) {
        again &= big[i][BIG / 4 - 1] == tag(i, 3);
        free(big[i]);
    }
    check(again, "%zu blocks of %d bytes after that", n, BIG / 4);
    return status;
}
