/*
 * lock.h - the futex lock of the process heap and of every arena.
 *
 * A three-state futex mutex (Drepper, "Futexes are tricky"): 0 free, 1
 * taken, 2 taken and someone may be waiting.  Taking a free lock is one
 * compare-and-swap and giving it back one exchange, a few instructions
 * where pthread_mutex_lock and unlock cost some sixty, and every call the
 * thread caches cannot serve pays them.
 */
#ifndef HMM_LOCK_H
#define HMM_LOCK_H

/* Set once the heap is given up after a misuse report (process_heap.c):
 * waiters stop waiting, since the holder may never give the lock back. */
extern int lock_waits_abandoned __attribute__((visibility("hidden")));

/* The slow halves, out of line. */
int lock_wait(int *lock);
void lock_wake(int *lock);

/* 1 if taken at once; 0 if another thread holds it. */
static inline int lock_try(int *lock)
{
    int expected = 0;
    return __atomic_compare_exchange_n(lock, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* 1 once taken; 0 if waiting was abandoned meanwhile. */
static inline int lock_take(int *lock)
{
    return lock_try(lock) || lock_wait(lock);
}

static inline void lock_give(int *lock)
{
    if (__atomic_exchange_n(lock, 0, __ATOMIC_RELEASE) == 2)
        lock_wake(lock);
}
/* Wake every thread asleep on the lock (they find waiting abandoned). */
void lock_wake_all(int *lock);

#endif /* HMM_LOCK_H */
