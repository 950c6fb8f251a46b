/*
 * signal_reentry.c - a signal handler that calls malloc while the thread is
 * inside malloc.
 *
 * A SIGALRM handler allocates and frees; an interval timer fires it every
 * 100 microseconds while the main thread does nothing but malloc, calloc,
 * realloc, memalign and free of sizes from 1 byte to 256 KiB.  Sooner or
 * later a signal lands while the main thread is inside the allocator, and
 * the handler's call re-enters it on the same thread.  An allocator that
 * notices says so and aborts; one that does not deadlocks on its own lock or
 * corrupts its state.  If ten seconds pass and the program is still alive,
 * it prints "no re-entry seen" and exits 0.
 *
 * Usage: signal_reentry [seconds]   (default 10)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t signals;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    signals++;
    unsigned char *p = malloc(16 + (size_t)(signals % 64) * 8);
    if (p) {
        p[0] = (unsigned char)signals;
        free(p);
    }
    errno = saved;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 10;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0) {
        perror("sigaction");
        return 2;
    }
    struct itimerval every = {{0, 100}, {0, 100}};
    if (setitimer(ITIMER_REAL, &every, NULL) != 0) {
        perror("setitimer");
        return 2;
    }

    enum { SLOTS = 256 };
    static unsigned char *slot[SLOTS];
    unsigned long rng = 12345, ops = 0;
    double end = now() + seconds;
    while (now() < end) {
        for (int i = 0; i < 1000; i++, ops++) {
            rng = rng * 6364136223846793005UL + 1442695040888963407UL;
            unsigned r = (unsigned)(rng >> 33);
            unsigned k = r % SLOTS;
            size_t size = (r >> 8) % 16 == 0 ? 1 + (r >> 12) % (256 << 10) : 1 + (r >> 12) % 1024;
            if (slot[k]) {
                if (r & 0x80) {
                    unsigned char *q = realloc(slot[k], size);
                    if (q) {
                        q[0] = 1;
                        slot[k] = q;
                    }
                } else {
                    free(slot[k]);
                    slot[k] = NULL;
                }
                continue;
            }
            switch ((r >> 4) % 4) {
            case 0: slot[k] = malloc(size); break;
            case 1: slot[k] = calloc(1, size); break;
            case 2: slot[k] = memalign(64, size); break;
            default: slot[k] = realloc(NULL, size); break;
            }
            if (slot[k])
                slot[k][0] = 1;
        }
    }

    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    printf("no re-entry seen (%lu operations, %ld signals)\n", ops, (long)signals);
    return 0;
}
