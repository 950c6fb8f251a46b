/*
 * stats_options.c - allocates, forks a child that allocates too, and prints
 * what it did; nothing in its output depends on the allocator.
 *
 * Run with HMM_STATS switches and misspelled HMM_* variables: the test
 * checks where the report goes, that no file appears in the working
 * directory, and how many warnings a process and its forked child print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long work(int rounds)
{
    unsigned long sum = 0;
    for (int i = 0; i < rounds; i++) {
        char *p = malloc(16 + (size_t)i);
        if (!p)
            exit(3);
        memset(p, i & 0x7f, 16 + (size_t)i);
        sum += (unsigned char)p[i];
        free(p);
    }
    return sum;
}

int main(void)
{
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        return 2;
    if (child == 0) {
        printf("child: %lu\n", work(100));
        return 0;
    }
    int wstatus;
    if (waitpid(child, &wstatus, 0) != child || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus))
        return 4;
    printf("parent: %lu\n", work(200));
    return 0;
}
