/*
 * pair.c - malloc(32) then free, N times: the fastest path of an allocator.
 *
 *     pair N
 */
#include "micro.h"

int main(int argc, char **argv)
{
    long n = iterations(argc, argv, 1);
    for (long i = 0; i < n; i++) {
        void *p = must(malloc(32));
        keep(p);
        free(p);
    }
    return 0;
}
