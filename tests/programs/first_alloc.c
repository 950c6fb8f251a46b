/*
 * first_alloc.c - a process whose very first allocation is not a malloc.
 *
 * A preloaded allocator that sets itself up lazily, or in its own
 * constructor, must still serve calloc, realloc(NULL, n) or memalign as the
 * first call it ever sees, possibly before its constructor has run.
 *
 * FIRST_ALLOC_MODE (read with getenv, which does not allocate) picks the
 * call: calloc, realloc, memalign, posix_memalign, aligned_alloc, valloc,
 * free (free(NULL) first, then malloc) or malloc.
 *
 * Built as a program, the call is made from a constructor of the program.
 * Built with -shared -fPIC and put in LD_PRELOAD *after* libhmm.so, the call
 * is made from this library's constructor, which the loader runs before
 * libhmm.so's own constructor.
 *
 * Prints "first MODE ok" (or "first MODE FAIL: why") on stdout.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char verdict[128];

static int zeroed(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static const char *first_call(const char *mode)
{
    void *p = NULL;
    size_t n = 1000;

    if (!strcmp(mode, "calloc")) {
        p = calloc(10, 100);
        if (p && !zeroed(p, n))
            return "calloc memory not zero";
    } else if (!strcmp(mode, "realloc")) {
        p = realloc(NULL, n);
    } else if (!strcmp(mode, "memalign")) {
        p = memalign(4096, n);
        if (p && (uintptr_t)p % 4096)
            return "memalign result misaligned";
    } else if (!strcmp(mode, "posix_memalign")) {
        if (posix_memalign(&p, 256, n) != 0)
            return "posix_memalign failed";
        if ((uintptr_t)p % 256)
            return "posix_memalign result misaligned";
    } else if (!strcmp(mode, "aligned_alloc")) {
        p = aligned_alloc(64, 1024);
        if (p && (uintptr_t)p % 64)
            return "aligned_alloc result misaligned";
    } else if (!strcmp(mode, "valloc")) {
        p = valloc(n);
        if (p && (uintptr_t)p % (uintptr_t)sysconf(_SC_PAGESIZE))
            return "valloc result not page aligned";
    } else if (!strcmp(mode, "free")) {
        free(NULL);
        p = malloc(n);
    } else if (!strcmp(mode, "malloc")) {
        p = malloc(n);
    } else {
        return "unknown mode";
    }
    if (p == NULL)
        return "returned NULL";
    if (malloc_usable_size(p) < n)
        return "usable size too small";
    memset(p, 0x5a, n);
    p = realloc(p, 10 * n);
    if (p == NULL)
        return "realloc after the first call failed";
    free(p);
    return NULL;
}

__attribute__((constructor)) static void at_load(void)
{
    const char *mode = getenv("FIRST_ALLOC_MODE");
    if (mode == NULL)
        mode = "malloc";
    const char *why = first_call(mode);
    if (why)
        snprintf(verdict, sizeof verdict, "first %s FAIL: %s\n", mode, why);
    else
        snprintf(verdict, sizeof verdict, "first %s ok\n", mode);
    /* stdio would allocate its buffer only now; write(2) avoids even that. */
    (void)!write(1, verdict, strlen(verdict));
}

#ifndef AS_LIBRARY
int main(void)
{
    return strstr(verdict, " ok\n") ? 0 : 1;
}
#endif
