/*
 * forks.h - fork a child N times and wait for each, for the programs that
 * fork while something else goes on.
 */
#ifndef FORKS_H
#define FORKS_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fork `n` children, each running child() and then _exit(0); wait for each.
 * Returns how many did not exit 0, or -1 if fork failed. */
static int fork_children(int n, void (*child)(void))
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return -1;
        }
        if (pid == 0) {
            child();
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
    }
    return failed;
}

#endif
