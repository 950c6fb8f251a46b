/*
 * misuse_double_free_cancel_pending.c - a double free in a thread whose
 * cancellation is pending.
 *
 * write() is a cancellation point: an allocator that writes its report
 * with it unwinds the thread there, and the program carries on after the
 * misuse.  glibc writes its fatal messages with the bare system call; HMM
 * must too, and abort: hmm: free(): double free of P (block of 48 bytes)
 */
#include <pthread.h>

#include "misuse.h"

static pthread_barrier_t cancelled;

static void *thread(void *arg)
{
    (void)arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_barrier_wait(&cancelled); /* main cancels now: pending */
    pthread_barrier_wait(&cancelled);
    char *p = guarded_block(40);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    free_fn(p);
    free_fn(p);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_barrier_init(&cancelled, NULL, 2);
    pthread_create(&t, NULL, thread, NULL);
    pthread_barrier_wait(&cancelled);
    pthread_cancel(t);
    pthread_barrier_wait(&cancelled);
    pthread_join(t, NULL);
    puts("survived");
    return 0;
}
