/*
 * measure.c - run one command and report what it cost.
 *
 *     measure RESULT_FILE program [args...]
 *
 * Runs the program as its only child (fork, execvp, wait) and writes one
 * line to RESULT_FILE:
 *
 *     status wall_ns user_us sys_us maxrss_kib
 *
 * status is the exit code, or 128 + the signal number; 127 when the program
 * could not be executed.  The times and the peak RSS come from
 * getrusage(RUSAGE_CHILDREN), which covers every descendant that was waited
 * for.  This process is started fresh for each run, so the figures belong
 * to that run alone.  Note that ru_maxrss is the largest peak of any *single*
 * process of the tree (e.g. cc1 under gcc), not the sum over processes.
 *
 * If MEASURE_LD_PRELOAD is set, the child gets it as LD_PRELOAD: this
 * helper itself runs on glibc whatever allocator is being measured.  The
 * program's stdin, stdout and stderr are this process's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long usec(struct timeval tv)
{
    return tv.tv_sec * 1000000LL + tv.tv_usec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: measure RESULT_FILE program [args...]\n");
        return 2;
    }
    FILE *result = fopen(argv[1], "w");
    if (!result) {
        fprintf(stderr, "measure: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    const char *preload = getenv("MEASURE_LD_PRELOAD");

    long long start = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "measure: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        if (preload) {
            setenv("LD_PRELOAD", preload, 1);
            unsetenv("MEASURE_LD_PRELOAD");
        }
        execvp(argv[2], argv + 2);
        fprintf(stderr, "measure: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    /* Like system(): a ^C or ^\ is for the program, which decides. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "measure: waitpid: %s\n", strerror(errno));
            return 2;
        }
    }
    long long wall = now_ns() - start;

    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    fprintf(result, "%d %lld %lld %lld %ld\n", status, wall, usec(ru.ru_utime),
            usec(ru.ru_stime), ru.ru_maxrss);
    if (fclose(result) != 0) {
        fprintf(stderr, "measure: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    return 0;
}
