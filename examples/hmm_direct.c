/*
 * hmm_direct.c - call HMM's seed API directly, without LD_PRELOAD.
 *
 * Build from the top of the source tree (hmm-run comes with the Python
 * package; the rpath lets the program find libhmm.so where it is installed):
 *
 *   gcc -I csrc examples/hmm_direct.c $(hmm-run --print-lib) -Wl,-rpath,"$(dirname "$(hmm-run --print-lib)")" -o hmm_direct
 *
 * Then run ./hmm_direct.  Linking libhmm.so also makes it the program's
 * malloc, so printf's buffers come from the same heap as the blocks below.
 * Addresses are printed relative to the first block, so that the output
 * shows the allocator's decisions and not where the heap happened to start.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hmm.h"

static char *base;

static long offset(const void *p)
{
    return (long)((const char *)p - base);
}

int main(void)
{
    printf("HmmAlloc(0) returns %s\n", HmmAlloc(0) == NULL ? "NULL" : "a block");
    HmmFree(NULL);
    printf("HmmFree(NULL) returns without doing anything\n");

    char *a = HmmAlloc(100);
    char *b = HmmAlloc(200);
    char *c = HmmAlloc(300);
    if (!a || !b || !c)
        return 1;
    base = a;
    printf("a = HmmAlloc(100) at +%ld\n", offset(a));
    printf("b = HmmAlloc(200) at +%ld\n", offset(b));
    printf("c = HmmAlloc(300) at +%ld\n", offset(c));
    printf("all 16-byte aligned: %s\n",
           ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % 16 == 0 ? "yes" : "no");

    HmmFree(b);
    printf("HmmFree(b): a 200-byte hole between a and c\n");
    char *d = HmmAlloc(150);
    printf("d = HmmAlloc(150) at +%ld: %s\n", offset(d),
           d == b ? "reuses b's hole" : "placed elsewhere");

    strcpy(a, "kept across HmmRealloc");
    char *grown = HmmRealloc(a, 5000);
    printf("HmmRealloc(a, 5000): %s, contents \"%s\"\n",
           grown == a ? "grew in place" : "moved", grown);

    char *fresh = HmmRealloc(NULL, 64);
    printf("HmmRealloc(NULL, 64) allocates: %s\n", fresh ? "yes" : "no");

    memset(d, 0xAB, 150);
    HmmFree(d);
    unsigned char *z = HmmCalloc(10, 15);
    int zero = 1;
    for (int i = 0; i < 150; i++)
        zero &= z[i] == 0;
    printf("HmmCalloc(10, 15): 150 bytes, all zero: %s\n", zero ? "yes" : "no");

    HmmFree(z);
    HmmFree(fresh);
    HmmFree(grown);
    HmmFree(c);
    printf("everything freed\n");
    return 0;
}
