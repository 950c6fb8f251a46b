/*
 * standin_big_block.c - a block bigger than what the heap asks the break
 * for, at the moment the break stops growing.
 *
 * Asking the break to grow, the heap counts the free space at its top: it
 * asks only for what the request lacks.  If the break then jumps instead
 * (a stand-in break, after the real one got blocked), that memory becomes
 * a segment apart, without the old top, and may be smaller than the block.
 * The program leaves some free space at the top, blocks the break, and
 * asks for blocks bigger than that space, with large blocks kept on the
 * heap (run with HMM_MMAP_THRESHOLD=64m: glibc's too is raised so).  Under
 * valgrind, which caps the break at 8 MB, a program that grows buffers by
 * realloc met this by itself.
 */
#include "standin_break.h"

#include <malloc.h>

#include "facts.h"

int main(void)
{
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    /* Some free space at the top: a block allocated, then freed. */
    char *first = malloc(200 << 10);
    memset(first, 1, 200 << 10);
    free(first);
    if (block_the_break() != 0)
        return 1;
    int ok = 1;
    for (size_t size = 300 << 10; size <= (8u << 20) && ok; size *= 2) { /* up to 4.8 MB */
        char *p = malloc(size);
        ok = p != NULL;
        if (ok) {
            memset(p, 7, size);
            ok = p[0] == 7 && p[size - 1] == 7;
        }
        free(p);
    }
    check(ok, "blocks of 300 KiB to 4.8 MB on the heap, the break blocked");
    return status;
}
