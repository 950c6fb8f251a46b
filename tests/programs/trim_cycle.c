/*
 * trim_cycle.c - a heap that cycles: batches of blocks built and freed
 * again at once, then a pause, then one more batch freed.
 *
 *     trim_cycle ROUNDS
 *
 * Each round allocates 2,000 blocks of 1 KiB (2 MiB at the top of the
 * heap), touches them and frees them all.  Prints a checksum of what the
 * blocks held.  On stderr: "faults N", the minor page faults of the rounds,
 * and "after_pause N", how far the break sits above its start once the
 * program has paused 100 ms and built and freed one small batch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BLOCKS 2000
#define SIZE 1024

static uint64_t round_trip(int round, int blocks)
{
    static unsigned char *live[BLOCKS];
    uint64_t sum = 0;
    for (int i = 0; i < blocks; i++) {
        live[i] = malloc(SIZE);
        if (!live[i]) {
            fprintf(stderr, "malloc failed\n");
            exit(1);
        }
        memset(live[i], (round + i) & 0xff, SIZE);
    }
    for (int i = 0; i < blocks; i++) {
        sum = sum * 31 + live[i][i % SIZE];
        free(live[i]);
    }
    return sum;
}

static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    free(malloc(16)); /* the heap exists */
    char *start = sbrk(0);
    uint64_t sum = 0;
    long before = minor_faults();
    for (int r = 0; r < rounds; r++)
        sum += round_trip(r, BLOCKS);
    fprintf(stderr, "faults %ld\n", minor_faults() - before);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    sum += round_trip(rounds, BLOCKS);
    fprintf(stderr, "after_pause %ld\n", (long)((char *)sbrk(0) - start));
    printf("%llx\n", (unsigned long long)sum);
    return 0;
}
