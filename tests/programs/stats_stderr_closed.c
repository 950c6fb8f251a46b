/*
 * stats_stderr_closed.c - a program started with stderr closed opens its log
 * file, which becomes descriptor 2, and logs through stderr until exit.
 *
 * An allocator that kept "descriptor 2" as the place of its exit report
 * would write the report into this log.  The test compares the log of a
 * glibc run with that of an HMM run.
 */
#include "facts.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    check(fcntl(STDERR_FILENO, F_GETFD) < 0, "stderr closed at start");
    int fd = open("log.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check(fd == STDERR_FILENO, "the log took descriptor 2");
    for (int i = 0; i < 100; i++) {
        char *entry = malloc(32 + (size_t)i);
        if (!entry)
            return 3;
        snprintf(entry, 32 + (size_t)i, "entry %d", i);
        fprintf(stderr, "%s\n", entry);
        free(entry);
    }
    fflush(stderr);
    return status; /* the log stays open: exit closes it, after the allocator's report */
}
