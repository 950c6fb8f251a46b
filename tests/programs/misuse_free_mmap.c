/*
 * misuse_free_mmap.c - frees a pointer into a page the program mapped itself.
 * HMM must say: hmm: free(): invalid pointer P (not a block from this heap)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static void (*volatile free_fn)(void *) = free;

int main(void)
{
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return 2;
    /* 16 bytes in, where a block's payload would start after its header. */
    printf("%p\n", (void *)(page + 16));
    fflush(stdout);
    free_fn(page + 16);
    puts("survived");
    return 0;
}
