/*
 * standin_spare.c - address space the stand-in break reserved but does not
 * use yet must not make a mapping fail that glibc would make.
 *
 * Blocks the break, caps the address space (RLIMIT_AS) at what is mapped
 * now plus 120 MiB, allocates 60 MiB in small blocks (past the break: the
 * stand-in reserves room ahead of them), then asks for 54 MiB in one
 * block, which needs a mapping of its own: it fits in the cap (with 5 MiB
 * to spare under glibc) only if the reserved room ahead is given back.  Prints facts that hold under either
 * allocator; exit 1 if one does not.
 */
#include "standin_break.h"

#include <errno.h>
#include <sys/resource.h>

#include "facts.h"

#define MiB ((size_t)1 << 20)
#ifndef BIG
#define BIG (54 * MiB)
#endif
#define SMALL_BLOCKS (60 * 8192) /* of 128 bytes: 60 MiB */

static char *small[SMALL_BLOCKS];

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (block_the_break() != 0)
        return 1;
    long now = status_kib("VmSize:");
    struct rlimit lim;
    getrlimit(RLIMIT_AS, &lim);
    lim.rlim_cur = (rlim_t)now * 1024 + 120 * MiB;
    if (now <= 0 || setrlimit(RLIMIT_AS, &lim) != 0) {
        printf("setrlimit(RLIMIT_AS): %s\n", strerror(errno));
        return 1;
    }
    int ok = 1;
    for (int i = 0; i < SMALL_BLOCKS && ok; i++) {
        small[i] = malloc(128 - 8);
        ok = small[i] != NULL;
        if (ok)
            small[i][0] = (char)i;
    }
    check(ok, "60 MiB in small blocks under RLIMIT_AS of VmSize + 120 MiB, the break blocked");
    char *big = malloc(BIG);
    check(big != NULL, "then malloc(%zu MiB)", BIG / MiB);
    if (big) {
        big[0] = 1;
        big[BIG - 1] = 2;
        free(big);
    }
    int intact = 1;
    for (int i = 0; i < SMALL_BLOCKS; i++) {
        intact &= small[i][0] == (char)i;
        free(small[i]);
    }
    check(intact, "the small blocks intact");
    return status;
}
