/*
 * process_heap.c - the process heap: its lock, its start-up, its options,
 * fork and exit.
 *
 * Start-up must work whichever allocation function a process calls first,
 * and before libc has finished starting (ld.so allocates through us while
 * it loads libraries), so it allocates nothing, prints nothing and reads
 * the environment by hand (options.c).  If the environment is not there
 * yet, the options are applied later, from the library's constructor.
 *
 * The lock is a three-state futex mutex (Drepper, "Futexes are tricky"):
 * 0 free, 1 taken, 2 taken and someone may be waiting.  Taking a free lock
 * is one compare-and-swap and giving it back one exchange, a few
 * instructions where pthread_mutex_lock and unlock cost some sixty, and
 * every call the thread caches cannot serve pays them.
 *
 * Fork: a child gets a copy of the heap as it was when fork() was called.
 * If another thread was half-way through an operation, that copy would be
 * torn and its lock held forever, so the prepare handler takes the lock
 * (no operation is in flight across fork) and both sides release it.
 */
#define _GNU_SOURCE
#include "process_heap.h"

#include "heap.h"
#include "options.h"
#include "report.h"
#include "thread_cache.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

static hmm_heap process_heap;
static int process_lock; /* 0 free, 1 taken, 2 taken with waiters */
static int process_heap_ready;
static int options_applied;

static void abort_on_misuse(hmm_heap *h)
{
    report_write(STDERR_FILENO, h->message, strlen(h->message));
    report_write(STDERR_FILENO, "\n", 1);
    abort();
}

static void warn_bad_option(hmm_option which, const char *why)
{
    report_line(option_name(which), "=", option_value(which), ": ", why, NULL);
}

/* A size option, if set and well formed. */
static int size_option(hmm_option which, size_t *out)
{
    int got = option_size(which, out);
    if (got < 0)
        warn_bad_option(which, "not a size (digits, then k, m or g), ignored");
    return got > 0;
}

/* Apply HMM_* to the heap, once the environment can be read. */
static void apply_options(hmm_heap *h)
{
    if (options_applied || !options_load())
        return;
    options_applied = 1;
    const char *policy = option_value(OPTION_POLICY);
    if (policy && hmm_heap_set_policy(h, policy) != 0)
        warn_bad_option(OPTION_POLICY, "unknown policy (segregated, first-fit, next-fit, best-fit), ignored");
    size_t n;
    if (size_option(OPTION_MMAP_THRESHOLD, &n)) {
        h->mmap_threshold = n;
        h->thresholds_fixed = 1;
    }
    if (size_option(OPTION_TRIM_THRESHOLD, &n)) {
        h->trim_threshold = n;
        h->thresholds_fixed = 1;
    }
    if (size_option(OPTION_TOP_PAD, &n))
        h->top_pad = n;
    const char *check = option_value(OPTION_CHECK);
    if (check) {
        size_t every = 0;
        if (size_option(OPTION_CHECK_EVERY, &every) && every > 0xffffffffu)
            every = 0xffffffffu;
        int level = check[0] >= '0' && check[0] <= '2' && !check[1] ? check[0] - '0' : -1;
        if (level < 0)
            warn_bad_option(OPTION_CHECK, "not 0, 1 or 2, ignored");
        else
            hmm_heap_set_check(h, level, (unsigned)every);
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause(); /* lets the other hyperthread run while we spin */
#endif
}

static __attribute__((noinline)) void lock_wait(void)
{
    /* The lock is held for a few hundred instructions at most: spin a
     * little before paying for a sleep and a wake-up. */
    for (int spin = 0; spin < 200; spin++) {
        cpu_relax();
        int expected = 0;
        if (__atomic_load_n(&process_lock, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&process_lock, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return;
    }
    /* Mark the lock contended, and sleep until it is free. */
    while (__atomic_exchange_n(&process_lock, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, &process_lock, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

static void lock_take(void)
{
    int expected = 0;
    if (!__atomic_compare_exchange_n(&process_lock, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        lock_wait();
}

static void lock_give(void)
{
    if (__atomic_exchange_n(&process_lock, 0, __ATOMIC_RELEASE) == 2)
        syscall(SYS_futex, &process_lock, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

hmm_heap *process_heap_lock(void)
{
    lock_take();
    if (__builtin_expect(!process_heap_ready, 0)) {
        /* The secret that seals headers and links: from the 16 random
         * bytes the kernel gives every process. */
        const uint64_t *random = (const uint64_t *)getauxval(AT_RANDOM);
        if (random)
            heap_seed_secret(random[1] * 0xd6e8feb86659fd93ull ^ random[0]);
        heap_init(&process_heap, os_source());
        process_heap.on_misuse = abort_on_misuse;
        process_heap_ready = 1;
        apply_options(&process_heap);
    }
    return &process_heap;
}

void process_heap_unlock(void)
{
    cache_note_heap_bounds(&process_heap);
    lock_give();
}

void process_heap_reentered(const char *call, const char *interrupted)
{
    report_line(call, ": re-entered on the same thread while in ", interrupted,
                " (from a signal handler?)", NULL);
    abort();
}

void process_heap_stats(struct hmm_stats *out)
{
    hmm_heap *h = process_heap_lock();
    hmm_heap_stats(h, out);
    cache_add_stats(out);
    process_heap_unlock();
}

static void before_fork(void) { process_heap_lock(); }
static void after_fork_parent(void) { process_heap_unlock(); }
static void after_fork_child(void)
{
    cache_after_fork_child();
    cache_note_heap_bounds(&process_heap);
    process_lock = 0; /* no other thread exists to wake */
}

__attribute__((constructor)) static void process_heap_start(void)
{
    hmm_heap *h = process_heap_lock();
    apply_options(h); /* in case the first allocation came before environ */
    process_heap_unlock();

    size_t limit = CACHE_DEFAULT_LIMIT;
    if (size_option(OPTION_TCACHE, &limit) && limit > 0xffff)
        limit = 0xffff;
    if (h->check_level) /* every call must reach the checks */
        limit = 0;
    cache_setup((uint32_t)limit);
    report_prepare();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

__attribute__((destructor)) static void process_heap_exit(void)
{
    if (!option_value(OPTION_STATS))
        return;
    struct hmm_stats stats;
    process_heap_stats(&stats);
    report_stats_as_configured(&stats, hmm_heap_policy(&process_heap), process_heap.check_level);
}
