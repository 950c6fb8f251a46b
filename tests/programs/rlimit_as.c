/*
 * rlimit_as.c - running out of address space is an ordinary NULL.
 *
 * The program caps its address space (RLIMIT_AS) at what it uses now plus
 * 256 MiB, then allocates 1 MiB, 4 KiB and 100-byte blocks in turn until one
 * request fails.  That first failure must be NULL with errno ENOMEM, not a
 * crash or an abort; requests too big for what is left must fail the same
 * way (realloc leaving its block alone); and once everything is freed, the
 * memory must be there to allocate again, a 64 MiB block included.
 *
 * Every line printed is a fact that holds whatever the allocator, so the
 * output under two allocators can be compared; how many blocks fit is not
 * printed.  Exit 1 when a fact is not as it should be.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "facts.h"

#define MiB ((size_t)1 << 20)
#define MAXBLOCKS 65536

/* Called through a pointer, so that the compiler does not warn that the
 * block is used after realloc: a failed realloc leaves it ours. */
static void *(*volatile do_realloc)(void *, size_t) = realloc;
static unsigned char *blocks[MAXBLOCKS];
static size_t sizes[MAXBLOCKS];

static const char *errname(int e)
{
    return e == ENOMEM ? "ENOMEM" : e == 0 ? "0" : strerror(e);
}

/* VmSize from /proc/self/status, in bytes; 0 when it cannot be read. */
static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1)
            break;
    fclose(f);
    return kib * 1024;
}

static unsigned char mark(size_t i) { return (unsigned char)(i * 31 + 7); }

/* A failed request: NULL and ENOMEM, printed as what happened. */
static void expect_enomem(void *p, int err, const char *what)
{
    check(p == NULL && err == ENOMEM, "%s with the space used up: %s, errno %s", what,
          p ? "a block" : "NULL", p ? "-" : errname(err));
    free(p);
}

int main(void)
{
    /* Unbuffered: printing must not need memory once there is none. */
    setvbuf(stdout, NULL, _IONBF, 0);

    unsigned char *keep = malloc(100); /* for realloc once memory is gone */
    memset(keep, 0x6b, 100);

    size_t now = vm_size();
    if (now == 0) {
        printf("cannot read VmSize from /proc/self/status\n");
        return 1;
    }
    struct rlimit lim;
    getrlimit(RLIMIT_AS, &lim);
    lim.rlim_cur = now + 256 * MiB;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_cur > lim.rlim_max)
        lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_AS, &lim) != 0) {
        printf("setrlimit(RLIMIT_AS): %s\n", strerror(errno));
        return 1;
    }
    printf("RLIMIT_AS lowered to VmSize + 256 MiB\n");

    static const size_t cycle[] = {MiB, 4096, 100};
    size_t n = 0, total = 0;
    int err = 0;
    for (;;) {
        if (n == MAXBLOCKS)
            break;
        size_t size = cycle[n % 3];
        errno = 0;
        unsigned char *p = malloc(size);
        if (!p) {
            err = errno;
            break;
        }
        p[0] = mark(n);
        p[size - 1] = mark(n + 1);
        blocks[n] = p;
        sizes[n] = size;
        total += size;
        n++;
    }
    check(n < MAXBLOCKS, "malloc of 1 MiB, 4 KiB, 100 bytes in turn: a request failed in the end");
    check(err == ENOMEM, "the first failed request: NULL, errno %s", errname(err));
    check(total > 128 * MiB, "more than 128 MiB allocated before it");

    /* Whatever is left, these are too big for it. */
    errno = 0;
    void *p = malloc(64 * MiB);
    expect_enomem(p, errno, "malloc(64 MiB)");
    errno = 0;
    p = calloc(64, MiB);
    expect_enomem(p, errno, "calloc(64, 1 MiB)");
    errno = 0;
    p = do_realloc(keep, 64 * MiB);
    err = errno;
    check(p == NULL && err == ENOMEM, "realloc(100-byte block, 64 MiB) with the space used up: "
                                      "%s, errno %s", p ? "a block" : "NULL", p ? "-" : errname(err));
    if (p)
        keep = p; /* freed below */
    int intact = 1;
    for (int i = 0; i < 100; i++)
        intact &= keep[i] == 0x6b;
    check(intact, "the 100-byte block after the failed realloc: intact");
    void *out = &out;
    int rc = posix_memalign(&out, 4096, 64 * MiB);
    check(rc == ENOMEM && out == &out, "posix_memalign(4096, 64 MiB) with the space used up: "
                                       "returned %s, out %s", errname(rc),
          out == &out ? "untouched" : "changed");
    if (out != &out)
        free(out);

    int marks = 1;
    for (size_t i = 0; i < n; i++) {
        if (blocks[i][0] != mark(i) || blocks[i][sizes[i] - 1] != mark(i + 1))
            marks = 0;
        free(blocks[i]);
    }
    free(keep);
    check(marks, "every block held its bytes until freed");

    /* Freed memory is memory again. */
    unsigned char *big = malloc(MiB);
    check(big != NULL, "malloc(1 MiB) after freeing everything");
    if (big)
        memset(big, 0x5a, MiB);
    int small_ok = 1;
    for (size_t i = 0; i < 1000; i++) {
        blocks[i] = malloc(i % 2 ? 100 : 4096);
        if (!blocks[i])
            small_ok = 0;
        else
            memset(blocks[i], 0x3c, i % 2 ? 100 : 4096);
    }
    check(small_ok, "1000 blocks of 100 bytes and 4 KiB after freeing everything");
    for (size_t i = 0; i < 1000; i++)
        free(blocks[i]);
    free(big);
    unsigned char *huge = malloc(64 * MiB);
    check(huge != NULL, "malloc(64 MiB) after freeing everything");
    if (huge) {
        huge[0] = 1;
        huge[64 * MiB - 1] = 2;
    }
    free(huge);
    return status;
}
