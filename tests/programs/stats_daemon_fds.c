/*
 * stats_daemon_fds.c - a daemon's start: close every descriptor from 3 to
 * 1023, then open 250 files and keep them open until exit.
 *
 * One of the files gets whatever number the allocator kept for itself (its
 * copy of stderr, for the exit report), so at exit a report meant for stderr
 * could land in one of them.  Each file holds one line saying which file and
 * which descriptor it is; the test compares the files of a glibc run and an
 * HMM run after both have exited.
 *
 * With the argument "log", it also does what daemons do with stderr: points
 * descriptor 2 at a log file of its own (daemon.log) and logs there.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILES 250

int main(int argc, char **argv)
{
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    if (argc > 1 && strcmp(argv[1], "log") == 0) {
        int log = open("daemon.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (log < 0 || dup2(log, STDERR_FILENO) != STDERR_FILENO || close(log) != 0) {
            perror("daemon.log");
            return 2;
        }
    }
    for (int i = 0; i < FILES; i++) {
        char name[32];
        snprintf(name, sizeof name, "file%03d.txt", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            perror(name);
            return 2;
        }
        /* from the heap, so that the allocator serves this program */
        char *line = malloc(64);
        if (!line)
            return 3;
        int len = snprintf(line, 64, "file %d on descriptor %d\n", i, fd);
        if (write(fd, line, (size_t)len) != len) {
            perror(name);
            return 4;
        }
        free(line);
    }
    printf("%d files open\n", FILES);
    fprintf(stderr, "daemon: %d files open\n", FILES);
    return 0; /* the files stay open: exit closes them, after the allocator's report */
}
