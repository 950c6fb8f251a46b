/*
 * abort_handler_alloc.c - a crash reporter that allocates, after a misuse
 * report.
 *
 * The program installs a SIGABRT handler, then frees a block twice.  The
 * allocator reports the double free and aborts; the handler then runs, as
 * crash reporters do:
 *   alloc   it allocates itself: backtrace_symbols, a buffer, a string;
 *   logger  it hands the report to a logger thread that allocates, and
 *           waits for it (a crash log flushed by another thread);
 *   calloc  it allocates, dirties and frees a block, then callocs one of
 *           the same size several times: every byte must be zero (after a
 *           misuse report HMM serves every call from its reserve, which
 *           carves the same bytes again once all its blocks are freed).
 * Either way it prints what it did and returns, and the process dies of
 * SIGABRT.  An allocator that aborts with its lock held or its "inside the
 * allocator" mark set hangs the logger, or reports the handler's own calls
 * as misuse over and over.
 *
 * Usage: abort_handler_alloc alloc|logger|calloc
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *mode;
static sem_t report_ready, report_written;

/* What a crash reporter does: allocate, format, write. */
static void write_crash_report(const char *who)
{
    void *frames[16];
    int n = backtrace(frames, 16);
    char **symbols = backtrace_symbols(frames, n);
    char *line = malloc(256);
    char *copy = strdup(who);
    int ok = symbols && line && copy && n > 0;
    if (line) {
        snprintf(line, 256, "%s: crash report written, allocations %s\n", copy ? copy : "?",
                 ok ? "ok" : "FAILED");
        fputs(line, stdout);
        fflush(stdout);
    }
    free(copy);
    free(line);
    free(symbols);
}

static void *logger(void *arg)
{
    (void)arg;
    sem_wait(&report_ready);
    write_crash_report("logger thread");
    sem_post(&report_written);
    return NULL;
}

/* calloc's bytes after a dirty block of the same size was freed. */
static void check_calloc(void)
{
    int zeroed = 1;
    for (int round = 0; round < 4; round++) {
        unsigned char *dirty = malloc(200);
        for (int i = 0; dirty && i < 200; i++)
            ((volatile unsigned char *)dirty)[i] = 0xa5; /* volatile: a store before free stays */
        free(dirty);
        unsigned char *clean = calloc(1, 200);
        for (int i = 0; clean && i < 200; i++)
            zeroed &= clean[i] == 0;
        free(clean);
    }
    printf("SIGABRT handler: calloc %s\n", zeroed ? "zeroed" : "NOT zeroed");
    fflush(stdout);
}

static void on_abort(int sig)
{
    (void)sig;
    if (strcmp(mode, "calloc") == 0) {
        check_calloc();
    } else if (strcmp(mode, "logger") == 0) {
        sem_post(&report_ready);
        sem_wait(&report_written);
    } else {
        write_crash_report("SIGABRT handler");
    }
}

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "alloc";
    sem_init(&report_ready, 0, 0);
    sem_init(&report_written, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, logger, NULL);
    /* Warm backtrace up (it loads libgcc_s) before anything goes wrong. */
    void *frames[4];
    backtrace(frames, 4);
    signal(SIGABRT, on_abort);

    char *volatile p = malloc(40); /* volatile: both frees stay */
    strcpy(p, "freed twice");
    puts("freeing a block twice");
    fflush(stdout);
    free(p);
    free(p);
    puts("survived the double free");
    return 0;
}
