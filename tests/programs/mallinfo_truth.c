/*
 * mallinfo_truth.c - what mallinfo2, mallopt and malloc_info say, in the
 * terms glibc's manual gives them.
 *
 * Each fact holds under glibc; the test runs the program under both and
 * compares.  Usage: mallinfo_truth [info-file]: malloc_info's XML, taken
 * with a 10 MiB block live, goes to info-file for the test to parse.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"

#define MiB (1024u * 1024)

/* Pointers the compiler must believe are used, so that it keeps every
 * malloc and free as written. */
static void *volatile sink;

static void *keep(void *p)
{
    sink = p;
    return p;
}

/* Parameters HMM has nothing to set for: glibc 2.36 answers 1 to every
 * parameter, even unknown ones; HMM answers 0, as glibc's manual says an
 * unsupported one gets.  The test checks this run alone. */
static int print_ignored(void)
{
    printf("M_MXFAST %d\n", mallopt(M_MXFAST, 0));
    printf("M_ARENA_MAX %d\n", mallopt(M_ARENA_MAX, 2));
    printf("M_ARENA_TEST %d\n", mallopt(M_ARENA_TEST, 2));
    printf("M_CHECK_ACTION %d\n", mallopt(M_CHECK_ACTION, 1));
    printf("unknown %d\n", mallopt(12345, 0));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ignored") == 0)
        return print_ignored();
    char *small = keep(malloc(100));
    struct mallinfo2 before = mallinfo2();
    check(before.arena > 0, "arena counts the heap once it holds a block");
    check(before.uordblks >= 100, "uordblks counts the 100-byte block");
    check(before.uordblks + before.fordblks == before.arena, "uordblks + fordblks == arena");
    check(before.keepcost <= before.fordblks, "keepcost (the top) is part of fordblks");
    check(before.fsmblks <= before.fordblks, "fsmblks (fast bins) are part of fordblks");

    /* A large block lives in a mapping of its own. */
    char *big = keep(malloc(10 * MiB));
    memset(big, 1, 10 * MiB);
    struct mallinfo2 with_big = mallinfo2();
    check(with_big.hblks == before.hblks + 1, "a live 10 MiB block is one more mapped block (hblks)");
    check(with_big.hblkhd >= before.hblkhd + 10 * MiB, "hblkhd grows by at least 10 MiB");
    check(with_big.uordblks < before.uordblks + MiB, "uordblks does not count the mapped block");
    check(with_big.arena == before.arena, "arena does not count it either");
    struct mallinfo old = mallinfo();
    check(old.hblks == (int)with_big.hblks && old.arena == (int)with_big.arena &&
              old.uordblks == (int)with_big.uordblks,
          "mallinfo agrees with mallinfo2");
    if (argc > 1) {
        FILE *f = fopen(argv[1], "w");
        check(f && malloc_info(0, f) == 0, "malloc_info(0, f) succeeds");
        if (f)
            fclose(f);
    }
    check(malloc_info(1, stdout) == EINVAL, "malloc_info with options != 0 answers EINVAL");
    free(big);
    check(mallinfo2().hblks == before.hblks, "freeing it unmaps it");

    /* mallopt: what both allocators honour. */
    check(mallopt(M_MMAP_THRESHOLD, 4 * MiB) == 1, "mallopt(M_MMAP_THRESHOLD, 4 MiB) == 1");
    char *medium = keep(malloc(2 * MiB));
    check(mallinfo2().hblks == before.hblks, "...and a 2 MiB block then comes from the heap");
    free(medium);
    check(mallopt(M_MMAP_THRESHOLD, 0) == 1, "mallopt(M_MMAP_THRESHOLD, 0) == 1");
    char *mapped = keep(malloc(200 * 1024));
    check(mallinfo2().hblks == before.hblks + 1 || mallinfo2().keepcost >= 200 * 1024,
          "...and a 200 KiB block is mapped, unless the top can serve it");
    free(mapped);
    check(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1, "mallopt(M_MMAP_THRESHOLD, 128 KiB) == 1");
    check(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1, "mallopt(M_TRIM_THRESHOLD, 128 KiB) == 1");
    check(mallopt(M_TOP_PAD, 64 * 1024) == 1, "mallopt(M_TOP_PAD, 64 KiB) == 1");
    check(mallopt(M_MMAP_MAX, 0) == 1, "mallopt(M_MMAP_MAX, 0) == 1");
    char *unmapped = keep(malloc(8 * MiB));
    check(mallinfo2().hblks == before.hblks, "...and then an 8 MiB block comes from the heap");
    free(unmapped);
    check(mallopt(M_MMAP_MAX, 65536) == 1, "mallopt(M_MMAP_MAX, 65536) == 1");
    char *again = keep(malloc(8 * MiB));
    check(mallinfo2().hblks == before.hblks + 1, "...and an 8 MiB block is mapped again");
    free(again);

    check(mallopt(M_PERTURB, 0x5a) == 1, "mallopt(M_PERTURB, 0x5a) == 1");
    unsigned char *filled = keep(malloc(300));
    int all = 1;
    for (int i = 0; i < 300; i++)
        all &= filled[i] == (0x5a ^ 0xff);
    check(all, "...and new memory is filled with 0x5a ^ 0xff");
    free(filled);
    mallopt(M_PERTURB, 0);
    free(small);
    return status;
}
