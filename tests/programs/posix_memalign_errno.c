/*
 * posix_memalign_errno.c - what posix_memalign leaves in errno.
 *
 * It reports failure by its return value, but glibc's sets errno to ENOMEM
 * too when memory runs out, and programs (glibc's own tests among them)
 * check errno; a bad alignment leaves errno alone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"

int main(void)
{
    void *p = (void *)&status;
    errno = 0;
    int r = posix_memalign(&p, 64, SIZE_MAX / 2);
    check(r == ENOMEM, "posix_memalign(64, SIZE_MAX/2) returns ENOMEM");
    check(errno == ENOMEM, "...and sets errno to ENOMEM");
    check(p == (void *)&status, "...and leaves *memptr alone");

    errno = 0;
    r = posix_memalign(&p, 24, 100);
    check(r == EINVAL, "posix_memalign(24, 100) returns EINVAL");
    check(errno == 0, "...and leaves errno alone");

    errno = EDOM;
    r = posix_memalign(&p, 64, 100);
    check(r == 0 && ((uintptr_t)p & 63) == 0, "posix_memalign(64, 100) succeeds, aligned");
    check(errno == EDOM, "...and leaves errno alone");
    free(p);
    return status;
}
