/*
 * break_blocked.c - the heap keeps working when the break cannot grow, and
 * when something else moves the break.
 *
 * Run under libhmm.so.  Phase 1 moves the break itself with sbrk(): HMM
 * must start a new segment above it rather than overwrite that memory.
 * Phase 2 maps a page just above the break so that brk() fails: HMM must
 * fall back to mmap.  Every block is filled and checked, and the memory
 * the program took with sbrk is checked to be untouched.
 * Prints "ok" and exits 0 on success.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BLOCKS 64
#define BLOCK_SIZE (32 * 1024)

static int fill_and_check(char **blocks, int n, int seed)
{
    for (int i = 0; i < n; i++) {
        blocks[i] = malloc(BLOCK_SIZE);
        if (!blocks[i]) {
            printf("malloc failed at block %d\n", i);
            return 1;
        }
        memset(blocks[i], seed + i, BLOCK_SIZE);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < BLOCK_SIZE; j += 512)
            if (blocks[i][j] != (char)(seed + i)) {
                printf("block %d corrupted\n", i);
                return 1;
            }
    return 0;
}

int main(void)
{
    char *before[BLOCKS], *after[BLOCKS], *blocked[BLOCKS];
    if (fill_and_check(before, BLOCKS, 1))
        return 1;

    /* Phase 1: the program moves the break itself. */
    char *mine = sbrk(64 * 1024);
    if (mine == (void *)-1) {
        perror("sbrk");
        return 1;
    }
    memset(mine, 0x5a, 64 * 1024);
    if (fill_and_check(after, BLOCKS, 2))
        return 1;
    for (int j = 0; j < 64 * 1024; j++)
        if (mine[j] != 0x5a) {
            printf("the program's own sbrk memory was overwritten\n");
            return 1;
        }

    /* Phase 2: nothing can grow the break any more. */
    char *brk_now = sbrk(0);
    long page = sysconf(_SC_PAGESIZE);
    char *wall = (char *)(((unsigned long)brk_now + page - 1) & ~(unsigned long)(page - 1));
    if (mmap(wall, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != wall) {
        perror("mmap wall");
        return 1;
    }
    if (sbrk(2 * page) != (void *)-1) {
        printf("the break still grows: the test is not testing anything\n");
        return 1;
    }
    if (fill_and_check(blocked, BLOCKS, 3))
        return 1;
    for (int i = 0; i < BLOCKS; i++) {
        free(before[i]);
        free(after[i]);
        free(blocked[i]);
    }
    printf("ok\n");
    return 0;
}
