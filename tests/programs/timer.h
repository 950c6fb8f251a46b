/*
 * timer.h - a signal handler run by an interval timer, for the programs
 * whose handlers call the allocator while the program does too.
 */
#ifndef TIMER_H
#define TIMER_H

#include <signal.h>
#include <string.h>
#include <sys/time.h>

/* Run handler() on SIGALRM every `usec` microseconds. */
static void timer_start(void (*handler)(int), long usec)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, usec}, {0, usec}};
    setitimer(ITIMER_REAL, &every, NULL);
}

static void timer_stop(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
}

#endif
