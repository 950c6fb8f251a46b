/*
 * trace_leaks.c - a program with leaks at three known call sites, for the
 * trace reports: hmm report must name exactly these three functions, with
 * these byte counts, and glibc's mtrace script must find the same blocks.
 *
 *   leak_names     7 blocks of 40 bytes   (malloc)      280 bytes
 *   leak_table     1 block of 3 x 512     (calloc)    1,536 bytes
 *   leak_buffer    1 block grown to 5,000 (realloc)   5,000 bytes
 *
 * Everything else it allocates it frees, and it prints what it did, so
 * that a run under glibc and a traced run can be compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *volatile keep; /* volatile: the compiler may not drop a leak */

__attribute__((noinline)) void leak_names(void)
{
    for (int i = 0; i < 7; i++) {
        char *name = malloc(40);
        snprintf(name, 40, "name %d", i);
        keep = name;
    }
}

__attribute__((noinline)) void leak_table(void)
{
    keep = calloc(3, 512);
}

__attribute__((noinline)) void leak_buffer(void)
{
    char *buffer = malloc(100);
    for (size_t size = 200; size <= 5000; size += 400)
        buffer = realloc(buffer, size);
    buffer = realloc(buffer, 5000);
    keep = buffer;
}

__attribute__((noinline)) void no_leak(void)
{
    for (int i = 0; i < 50; i++) {
        char *scratch = malloc(64 + i);
        memset(scratch, 'x', 64);
        keep = scratch;
        free(scratch);
    }
}

int main(void)
{
    no_leak();
    leak_names();
    leak_table();
    leak_buffer();
    no_leak();
    puts("leaked 7 x 40, 3 x 512 and 5000 bytes");
    return 0;
}
