/*
 * signal_alloc_timer.c - a timer signal handler that allocates, prints and
 * frees while the program allocates too: undefined behaviour that real
 * programs commit (printf in a SIGALRM handler).
 *
 * Every 100 microseconds the handler formats a line with fprintf into a
 * stream (whose buffer it allocates on first use), allocates a block, fills
 * it, frees the block it allocated TICKS_KEPT ticks ago, and asks for more
 * than can be had (reallocarray overflowing, refused): some of the
 * handler's calls land while the main thread is inside malloc or free.  The
 * main thread allocates, fills and checks blocks of many sizes.  Every
 * block's contents are checked before it is freed, so a block handed out
 * twice shows up.  The program stops after TICKS ticks.
 *
 * Usage: signal_alloc_timer [ticks]   (default 13000)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timer.h"

#define TICKS_KEPT 8

static volatile sig_atomic_t ticks, damaged;
static FILE *log_stream;
static unsigned char *kept[TICKS_KEPT];
static size_t kept_size[TICKS_KEPT];

static int intact(const unsigned char *p, size_t n, unsigned char fill)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != fill)
            return 0;
    return 1;
}

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    unsigned t = (unsigned)ticks++;
    fprintf(log_stream, "tick %u\n", t);
    unsigned k = t % TICKS_KEPT;
    if (kept[k] && !intact(kept[k], kept_size[k], (unsigned char)k))
        damaged = 1;
    free(kept[k]);
    /* A request refused before it reaches the heap must not wait for the
     * lock the interrupted thread may hold. */
    errno = 0;
    if (reallocarray(NULL, SIZE_MAX, 2) != NULL || errno != ENOMEM)
        damaged = 1;
    kept_size[k] = 8 + (t * 131) % 700;
    kept[k] = malloc(kept_size[k]);
    if (kept[k])
        memset(kept[k], (unsigned char)k, kept_size[k]);
    errno = saved;
}

int main(int argc, char **argv)
{
    int want = argc > 1 ? atoi(argv[1]) : 13000;
    log_stream = fopen("/dev/null", "w");
    timer_start(on_alarm, 100);

    enum { SLOTS = 512 };
    static unsigned char *slot[SLOTS];
    static size_t size[SLOTS];
    unsigned long rng = 42;
    while (ticks < want) {
        rng = rng * 6364136223846793005UL + 1442695040888963407UL;
        unsigned r = (unsigned)(rng >> 33), k = r % SLOTS;
        if (slot[k]) {
            if (!intact(slot[k], size[k], (unsigned char)k))
                damaged = 1;
            if (r & 0x100) {
                size_t n = 1 + (r >> 12) % 4000;
                unsigned char *q = realloc(slot[k], n);
                if (q) {
                    if (n > size[k])
                        memset(q + size[k], (unsigned char)k, n - size[k]);
                    slot[k] = q;
                    size[k] = n;
                }
            } else {
                free(slot[k]);
                slot[k] = NULL;
            }
            continue;
        }
        size[k] = 1 + (r >> 12) % ((r & 0x800) ? 40000 : 600);
        slot[k] = (r & 0x200) ? calloc(1, size[k]) : malloc(size[k]);
        if (slot[k])
            memset(slot[k], (unsigned char)k, size[k]);
    }
    timer_stop();
    for (unsigned k = 0; k < SLOTS; k++)
        free(slot[k]);
    for (unsigned k = 0; k < TICKS_KEPT; k++)
        free(kept[k]);
    fclose(log_stream);
    printf("at least %d ticks of a handler that allocates: blocks %s\n", want,
           damaged ? "DAMAGED" : "intact");
    return damaged;
}
