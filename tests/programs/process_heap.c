/*
 * process_heap.c - the process heap's own behaviours, one mode per run:
 *
 *   large      big blocks get mappings of their own, go back to the OS on
 *              free, and keep their contents through realloc (mremap)
 *   adaptive   freeing a mapped block raises the mmap threshold to its size
 *   calloc     a large calloc is all zeros
 *   churn N    N malloc(40)/free pairs (the thread cache's path)
 *   double     free the same small block twice (must abort)
 *   threads    threads churn small blocks and exit: their caches go back
 *   trim       malloc_trim gives back the pages of free blocks
 *
 * Prints "ok" and exits 0, or says what went wrong and exits 1.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MiB (1024 * 1024)

static int fail(const char *what)
{
    printf("FAILED: %s\n", what);
    return 1;
}

/* Is the page holding p mapped at all? */
static int mapped(void *p)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char vec;
    return mincore((void *)((unsigned long)p & ~(unsigned long)(page - 1)), 1, &vec) == 0;
}

static int large(void)
{
    char *before = sbrk(0);
    char *p = malloc(8 * MiB);
    if (!p)
        return fail("malloc(8 MiB)");
    if ((char *)sbrk(0) - before >= 8 * MiB)
        return fail("8 MiB came from the break, not a mapping");
    if (malloc_usable_size(p) < 8 * MiB)
        return fail("usable size below the request");
    for (int i = 0; i < 8 * MiB; i += 4096)
        p[i] = (char)(i / 4096);
    p = realloc(p, 32 * MiB);
    if (!p)
        return fail("realloc to 32 MiB");
    for (int i = 0; i < 8 * MiB; i += 4096)
        if (p[i] != (char)(i / 4096))
            return fail("realloc lost the contents");
    memset(p + 8 * MiB, 1, 24 * MiB);
    p = realloc(p, 300 * 1024);
    if (!p || p[4096] != 1)
        return fail("realloc down to 300 KiB");
    free(p);
    if (mapped(p))
        return fail("a freed large block is still mapped");
    return 0;
}

/* Is p inside the heap that the break delimits, above `heap_block`? */
static int on_the_break(const char *heap_block, const char *p)
{
    return p > heap_block && p < (char *)sbrk(0);
}

static int adaptive(void)
{
    char *small = malloc(16); /* a block of the heap at the break */
    char *p = malloc(2 * MiB);
    if (!p || on_the_break(small, p))
        return fail("2 MiB did not get a mapping of its own");
    free(p); /* ...and the threshold rises to 2 MiB */
    char *q = malloc(1 * MiB);
    if (!q || !on_the_break(small, q))
        return fail("after freeing a 2 MiB block, 1 MiB still got a mapping");
    free(q);
    free(small);
    return 0;
}

static int big_calloc(void)
{
    for (int round = 0; round < 3; round++) {
        unsigned char *p = calloc(1, 4 * MiB + round);
        if (!p)
            return fail("calloc");
        for (size_t i = 0; i < 4 * MiB + (size_t)round; i++)
            if (p[i])
                return fail("calloc memory is not zero");
        memset(p, 0xff, 4 * MiB);
        free(p);
    }
    return 0;
}

static int churn(long n)
{
    for (long i = 0; i < n; i++) {
        void *volatile p = malloc(40);
        free(p);
    }
    return 0;
}

static int double_free(void)
{
    void *p = malloc(32);
    printf("%p\n", p);
    fflush(stdout);
    free(p);
    free(p);
    return fail("the second free returned");
}

static void *churn_thread(void *arg)
{
    (void)arg;
    void *keep[64];
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 64; i++)
            keep[i] = malloc(16 + (size_t)(i * 8));
        for (int i = 0; i < 64; i++)
            free(keep[i]);
    }
    return NULL;
}

static int threads(void)
{
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, churn_thread, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static long resident_pages(void)
{
    long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
        return -1;
    fclose(f);
    return resident;
}

static int trim(void)
{
    /* 32 MiB of 64 KiB blocks, every other one kept so that the free space
     * cannot merge into the top and be trimmed that way. */
    enum { COUNT = 512 };
    static char *blocks[COUNT];
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = malloc(64 * 1024 - 64);
        if (!blocks[i])
            return fail("malloc");
        memset(blocks[i], 1, 64 * 1024 - 64);
    }
    for (int i = 0; i < COUNT; i += 2)
        free(blocks[i]);
    long before = resident_pages();
    if (malloc_trim(0) != 1)
        return fail("malloc_trim released nothing");
    long after = resident_pages();
    long page_kib = sysconf(_SC_PAGESIZE) / 1024;
    if ((before - after) * page_kib < 12 * 1024) /* ~16 MiB were free */
        return fail("malloc_trim did not lower the resident size by 12 MiB");
    for (int i = 1; i < COUNT; i += 2)
        if (blocks[i][100] != 1)
            return fail("a live block lost its contents");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int status;
    if (!strcmp(mode, "large"))
        status = large();
    else if (!strcmp(mode, "adaptive"))
        status = adaptive();
    else if (!strcmp(mode, "calloc"))
        status = big_calloc();
    else if (!strcmp(mode, "churn"))
        status = churn(argc > 2 ? atol(argv[2]) : 1000);
    else if (!strcmp(mode, "double"))
        status = double_free();
    else if (!strcmp(mode, "threads"))
        status = threads();
    else if (!strcmp(mode, "trim"))
        status = trim();
    else
        return fail("unknown mode");
    if (status == 0)
        printf("ok\n");
    return status;
}
