/* lock.c - the futex lock; see lock.h. */
#define _GNU_SOURCE
#include "lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int lock_waits_abandoned;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause(); /* lets the other hyperthread run while we spin */
#endif
}

/* Wait for the lock: 1 once taken, 0 if waiting was abandoned meanwhile
 * (then the lock may never come free: its holder may be a thread that a
 * signal interrupted, on its way to abort). */
__attribute__((noinline)) int lock_wait(int *lock)
{
    /* A lock is held for a few hundred instructions at most: spin a
     * little before paying for a sleep and a wake-up. */
    for (int spin = 0; spin < 200; spin++) {
        cpu_relax();
        int expected = 0;
        if (__atomic_load_n(lock, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(lock, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return 1;
    }
    /* Mark the lock contended, and sleep until it is free.  The sleep has a
     * time limit only so that a waiter that missed the wake-up of a give-up
     * still finds the news. */
    struct timespec limit = {0, 50 * 1000 * 1000};
    int saved_errno = errno; /* a time-out must not show through a malloc that succeeds */
    int taken = 1;
    while (__atomic_exchange_n(lock, 2, __ATOMIC_ACQUIRE) != 0) {
        if (__atomic_load_n(&lock_waits_abandoned, __ATOMIC_ACQUIRE)) {
            taken = 0;
            break;
        }
        syscall(SYS_futex, lock, FUTEX_WAIT_PRIVATE, 2, &limit, NULL, 0);
    }
    errno = saved_errno;
    return taken;
}

/* Out of line: the uncontended unlock keeps no registers for it. */
__attribute__((noinline, cold)) void lock_wake(int *lock)
{
    int saved_errno = errno;
    syscall(SYS_futex, lock, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved_errno;
}

void lock_wake_all(int *lock)
{
    syscall(SYS_futex, lock, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}
