/*
 * fork_in_signal_handler.c - fork() from a signal handler that interrupted
 * malloc, in a single-threaded process (glibc's tst-mallocfork pattern).
 *
 * fork is async-signal-safe, and glibc keeps it so by taking no malloc lock
 * in a process without threads.  A timer fires every half millisecond while
 * the program does nothing but allocate; the handler forks, the child
 * allocates and calls exit() (so its atexit handlers and the allocator's
 * destructors run in a process whose only thread is inside malloc), and the
 * parent's handler waits for it.
 *
 * Usage: fork_in_signal_handler [forks]   (default 300)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timer.h"

static volatile sig_atomic_t forks, failed;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t pid = fork();
    if (pid == 0) {
        char *p = malloc(64);
        if (p)
            memset(p, 1, 64);
        free(p);
        exit(0);
    }
    if (pid > 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
        forks++;
    }
    errno = saved;
}

int main(int argc, char **argv)
{
    int want = argc > 1 ? atoi(argv[1]) : 300;
    timer_start(on_alarm, 500);
    void *slot[128] = {0};
    for (unsigned long i = 0; forks < want; i++) {
        unsigned k = (unsigned)(i % 128);
        free(slot[k]);
        slot[k] = malloc(1 + (i * 7919) % 3000);
    }
    timer_stop();
    for (unsigned k = 0; k < 128; k++)
        free(slot[k]);
    printf("at least %d forks from a signal handler, %d children failed\n", want, (int)failed);
    return failed != 0;
}
