/*
 * standin_rlimit.c - with the break blocked, the heap's stand-in break
 * must not eat the address space a large request needs.
 *
 * Caps the address space (RLIMIT_AS) at 3,000,000 KiB, as `ulimit -v
 * 3000000` before the program would, blocks the break, allocates 8 MiB in
 * small blocks (the heap must then grow elsewhere), and asks for one block
 * of 2000 MB, which glibc serves.  Prints facts that hold under either allocator; exit 1 if one
 * does not.
 */
#include "standin_break.h"

#include <errno.h>
#include <sys/resource.h>

#include "facts.h"

#define SMALL_BLOCKS 65536

static char *small[SMALL_BLOCKS];

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    /* The cap first: a reservation made before it would not count. */
    struct rlimit lim;
    getrlimit(RLIMIT_AS, &lim);
    lim.rlim_cur = 3000000ul * 1024;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_cur > lim.rlim_max)
        lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_AS, &lim) != 0) {
        printf("setrlimit(RLIMIT_AS): %s\n", strerror(errno));
        return 1;
    }
    if (block_the_break() != 0)
        return 1;
    int ok = 1;
    for (int i = 0; i < SMALL_BLOCKS && ok; i++) {
        small[i] = malloc(128);
        ok = small[i] != NULL;
        if (ok)
            memset(small[i], i & 0xff, 128);
    }
    check(ok, "8 MiB in blocks of 128 bytes with the break blocked");

    size_t size = (size_t)2000 << 20;
    char *big = malloc(size);
    check(big != NULL, "malloc(2000 MB) under RLIMIT_AS 3000000 KiB");
    if (big) {
        big[0] = 1;
        big[size - 1] = 2;
        free(big);
    }
    int intact = 1;
    for (int i = 0; i < SMALL_BLOCKS; i++) {
        intact &= small[i][0] == (char)(i & 0xff) && small[i][127] == (char)(i & 0xff);
        free(small[i]);
    }
    check(intact, "the small blocks intact");
    /* Still room for more in the heap after that. */
    char *again = malloc(1 << 20);
    check(again != NULL, "malloc(1 MiB) afterwards");
    free(again);
    return status;
}
