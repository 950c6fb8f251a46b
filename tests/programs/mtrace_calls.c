/*
 * mtrace_calls.c - calls logged by glibc's own mtrace(3) (MALLOC_TRACE=FILE),
 * for hmm replay's import of mtrace logs: 40 blocks, half freed, three
 * grown with realloc.
 */
#include <mcheck.h>
#include <stdlib.h>

void *volatile keep[40];

int main(void)
{
    mtrace();
    for (int i = 0; i < 40; i++)
        keep[i] = malloc(24 + 8 * i);
    for (int i = 0; i < 40; i += 2)
        free(keep[i]);
    for (int i = 1; i < 7; i += 2)
        keep[i] = realloc(keep[i], 1000 + i);
    muntrace();
    return 0;
}
