/*
 * standin_break.h - for programs that test the heap once the break cannot
 * grow: map a page just above the break, as break_blocked.c does.
 */
#ifndef STANDIN_BREAK_H
#define STANDIN_BREAK_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

/* Block the break; 0 on success, after checking it no longer moves. */
static int block_the_break(void)
{
    char *brk_now = sbrk(0);
    long page = sysconf(_SC_PAGESIZE);
    char *wall = (char *)(((unsigned long)brk_now + page - 1) & ~(unsigned long)(page - 1));
    if (mmap(wall, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != wall) {
        perror("mmap wall");
        return -1;
    }
    if (sbrk(2 * page) != (void *)-1) {
        printf("the break still grows: the test is not testing anything\n");
        return -1;
    }
    return 0;
}

/* A field of /proc/self/status ("VmSize", "VmRSS"), in KiB; -1 if unread.
 * With read(2): stdio would allocate. */
static __attribute__((unused)) long status_kib(const char *field)
{
    char text[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    text[got > 0 ? got : 0] = '\0';
    const char *line = strstr(text, field);
    return line ? strtol(line + strlen(field) + 1, NULL, 10) : -1;
}

#endif
