/*
 * check_fill.c - not a misuse: run with HMM_CHECK=1, prints the pointers of a
 * fresh malloc(64) and of the malloc(64) after freeing it, then the bytes of
 * the fresh block, the reused one (after writing 0x11 and freeing) and of calloc.
 * HMM must fill fresh and reused blocks with 0xAA, calloc's with 0x00.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*volatile free_fn)(void *) = free;

/* Hides where a pointer came from: gcc may not assume malloc's bytes are
 * indeterminate and skip reading them. */
__attribute__((noinline)) static unsigned char *hide(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static void show(const char *what, const unsigned char *p)
{
    printf("%s ", what);
    for (int i = 0; i < 64; i++)
        printf("%02x", p[i]);
    printf("\n");
}

int main(void)
{
    unsigned char fresh[64];
    unsigned char *p = hide(malloc(64));
    memcpy(fresh, p, 64);
    memset(p, 0x11, 64);
    free_fn(p);
    unsigned char *q = hide(malloc(64));
    unsigned char *c = hide(calloc(1, 64));
    printf("%p\n%p\n", (void *)p, (void *)q);
    show("fresh", fresh);
    show("reused", q);
    show("calloc", c);
    return 0;
}
