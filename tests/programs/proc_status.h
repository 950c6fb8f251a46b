/*
 * proc_status.h - a field of /proc/self/status, for the programs that
 * compare memory use under glibc and HMM.
 */
#ifndef PROC_STATUS_H
#define PROC_STATUS_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A field ("VmSize", "VmRSS"), in KiB; -1 if unread.  With read(2): stdio
 * would allocate while the program measures. */
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
