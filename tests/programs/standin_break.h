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

#include "proc_status.h"

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

#endif
