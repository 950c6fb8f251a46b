/*
 * process_heap.c - the process heap: its lock, its start-up, its options,
 * the bounds it publishes, and giving it up after a misuse report.  It
 * calls nothing above it: the thread caches, the arenas, fork.c and the
 * libc names call it (and it calls back only through process_heap_on_give_up).
 *
 * Start-up must work whichever allocation function a process calls first,
 * and before libc has finished starting (ld.so allocates through us while
 * it loads libraries), so it allocates nothing, prints nothing and reads
 * the environment by hand (options.c).  If the environment is not there
 * yet, the options are applied later, from the library's constructor.
 *
 * The lock is lock.h's futex lock.
 *
 * Misuse: the heap is no longer trusted once a misuse has been reported,
 * but the program is not dead yet.  abort() runs its SIGABRT handler, which
 * may allocate (a crash reporter calling backtrace_symbols) or wait for a
 * thread that does (a logger flushing a crash log).  So the report gives
 * the heap up: it prints its one line, releases the lock (and, through the
 * give-up hook, the thread's cache and its "inside the allocator" mark),
 * and from then on every call, in every
 * thread, is served by the lock-free reserve (reserve.h) and never touches
 * the heap again.  Threads asleep on the lock wake up to that news.
 *
 * Fork is fork.c's concern: it takes this lock through the functions below.
 */
#define _GNU_SOURCE
#include "process_heap.h"

#include "format.h"
#include "heap.h"
#include "lock.h"
#include "options.h"
#include "report.h"
#include "reserve.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

static hmm_heap process_heap;
static int process_lock; /* 0 free, 1 taken, 2 taken with waiters */
/* HEAP_NEW until the first call sets the heap up, then HEAP_READY, then
 * HEAP_GIVEN_UP once a misuse was reported (the heap is not touched
 * again): one word, so that taking the lock checks both with one test. */
enum { HEAP_NEW = 0, HEAP_READY, HEAP_GIVEN_UP };
static int heap_state;
static int options_applied;
/* Who hears of a give-up (process_heap_on_give_up): the thread caches, and
 * the tracer when tracing. */
#define GIVE_UP_HOOKS 2
static void (*on_give_up[GIVE_UP_HOOKS])(const char *message);

/* Published at each unlock for readers without the lock (process_heap.h). */
uintptr_t heap_low, heap_units, heap_low2, heap_units2;
uintptr_t heap_size_published;

/* Say `message` (a whole line), unless the heap was given up already: one
 * report, whatever happens after it.  Then give the heap up, wake every
 * thread asleep on the lock (they will find the news and use the reserve),
 * and leave this thread free to allocate from its SIGABRT handler. */
static void give_up(const char *message)
{
    if (__atomic_exchange_n(&heap_state, HEAP_GIVEN_UP, __ATOMIC_ACQ_REL) == HEAP_GIVEN_UP)
        return;
    __atomic_store_n(&lock_waits_abandoned, 1, __ATOMIC_RELEASE);
    report_write(STDERR_FILENO, message, strlen(message)); /* never a cancellation point */
    report_write(STDERR_FILENO, "\n", 1);
    for (int i = 0; i < GIVE_UP_HOOKS; i++) /* the thread's cache, which it may be half-way through changing; the trace */
        if (on_give_up[i])
            on_give_up[i](message);
    lock_wake_all(&process_lock);
}

int process_heap_given_up(void)
{
    return __atomic_load_n(&heap_state, __ATOMIC_ACQUIRE) == HEAP_GIVEN_UP;
}

/* The process heap's misuse handler: the core found the misuse under the
 * lock, which this thread therefore holds. */
static void abort_on_misuse(hmm_heap *h)
{
    give_up(h->message);
    lock_give(&process_lock);
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
    if (policy && hmm_heap_set_policy(h, policy) != 0) {
        char names[HMM_MESSAGE_MAX], why[HMM_MESSAGE_MAX + 32];
        hmm_text t;
        placement_policy_list(names, sizeof names); /* the choices, from the policies' table */
        text_init(&t, why, sizeof why);
        text_str(&t, "unknown policy (");
        text_str(&t, names);
        text_str(&t, "), ignored");
        warn_bad_option(OPTION_POLICY, why);
    }
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
    if (size_option(OPTION_TRIM_DELAY, &n))
        h->trim_delay_ms = n;
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

/* With the lock just taken: the heap, set up on first use, or NULL (and
 * the lock given back) when it was given up. */
static hmm_heap *ready_heap(void)
{
    int state = __atomic_load_n(&heap_state, __ATOMIC_ACQUIRE);
    if (__builtin_expect(state != HEAP_READY, 0)) {
        if (state == HEAP_GIVEN_UP) {
            lock_give(&process_lock);
            return NULL;
        }
        /* The secret that seals headers and links: from the 16 random
         * bytes the kernel gives every process. */
        const uint64_t *random = (const uint64_t *)getauxval(AT_RANDOM);
        if (random)
            heap_seed_secret(random[1] * 0xd6e8feb86659fd93ull ^ random[0]);
        heap_init(&process_heap, os_source());
        process_heap.trim_delay_ms = option_default_size(OPTION_TRIM_DELAY);
        process_heap.on_misuse = abort_on_misuse;
        __atomic_store_n(&heap_state, HEAP_READY, __ATOMIC_RELEASE);
        apply_options(&process_heap);
    }
    return &process_heap;
}

hmm_heap *process_heap_lock(void)
{
    return lock_take(&process_lock) ? ready_heap() : NULL;
}

hmm_heap *process_heap_lock_if_free(int *busy)
{
    if (!lock_try(&process_lock)) {
        *busy = !process_heap_given_up();
        return NULL;
    }
    *busy = 0;
    return ready_heap();
}

void process_heap_settings(hmm_heap *into)
{
    /* Plain reads of words only mallopt changes: a stale one is harmless. */
    const hmm_heap *h = &process_heap;
    hmm_heap_set_policy(into, hmm_heap_policy(h));
    into->trim_threshold = h->trim_threshold;
    into->top_pad = h->top_pad;
    into->trim_delay_ms = h->trim_delay_ms;
    into->perturb = h->perturb;
}

/* A copy of the heap's mmap threshold for the arenas' threads to read
 * without the lock, apart from the heap, whose words its own thread writes
 * on every call: reading those would bounce their cache line between cores. */
static size_t shared_mmap_threshold __attribute__((aligned(64)));

size_t process_heap_mmap_threshold(void)
{
    return __atomic_load_n(&shared_mmap_threshold, __ATOMIC_RELAXED);
}

/* The payload addresses of a segment's blocks, [*low, *low + *span). */
static void segment_range(const hmm_segment *s, uintptr_t *low, uintptr_t *span)
{
    *low = s ? (uintptr_t)block_payload(segment_first_block(s)) : 0;
    *span = s ? (uintptr_t)segment_end_marker(s) - *low : 0;
}

/* Store only on change: every thread's fast free reads these, and a write
 * on every unlock would bounce their cache line between cores. */
static void store_if_changed(uintptr_t *word, uintptr_t value)
{
    if (*word != value)
        __atomic_store_n(word, value, __ATOMIC_RELAXED);
}

/* Segments change only as the heap grows or trims, which its counters
 * count: at most unlocks nothing changed, and nothing is worked out. */
static uint64_t published_changes = UINT64_MAX;

static __attribute__((noinline)) void publish_changed_bounds(const hmm_heap *h)
{
    uintptr_t low, span;
    segment_range(h->newest, &low, &span);
    store_if_changed(&heap_low, low);
    store_if_changed(&heap_units, span / HMM_ALIGNMENT);
    segment_range(h->segments != h->newest ? h->segments : NULL, &low, &span);
    store_if_changed(&heap_low2, low);
    store_if_changed(&heap_units2, span / HMM_ALIGNMENT);
    store_if_changed(&heap_size_published, h->counters.heap_size);
}

static inline void publish_bounds(const hmm_heap *h)
{
    uint64_t changes = h->counters.grow_calls + h->counters.trim_calls;
    if (changes != published_changes) {
        published_changes = changes;
        publish_changed_bounds(h);
    }
}

void process_heap_unlock(void)
{
    publish_bounds(&process_heap);
    if (shared_mmap_threshold != process_heap.mmap_threshold) /* it adapts, and mallopt sets it */
        __atomic_store_n(&shared_mmap_threshold, process_heap.mmap_threshold, __ATOMIC_RELAXED);
    lock_give(&process_lock);
}

void process_heap_give_up(const char *line)
{
    give_up(line);
}

void process_heap_fatal(const char *line)
{
    give_up(line);
    abort();
}

int process_heap_check_level(void)
{
    return process_heap.check_level;
}

/* Requests refused before they reach the heap, counted without the lock:
 * the thread refusing one may be a signal handler whose thread holds it. */
static uint64_t refused_calls;

void process_heap_count_refused(void)
{
    __atomic_add_fetch(&refused_calls, 1, __ATOMIC_RELAXED);
}

void process_heap_stats_with(struct hmm_stats *out, void (*also)(hmm_heap *h, void *ctx), void *ctx)
{
    memset(out, 0, sizeof *out);
    hmm_heap *h = process_heap_lock();
    if (h) {
        hmm_heap_stats(h, out);
        if (also)
            also(h, ctx);
        process_heap_unlock();
    }
    out->failed_calls += __atomic_load_n(&refused_calls, __ATOMIC_RELAXED);
    out->reserve_calls = reserve_calls();
    out->reserve_bytes = reserve_bytes();
}

int process_heap_fork_prepare(void)
{
    return process_heap_lock() != NULL;
}

void process_heap_fork_parent(void)
{
    process_heap_unlock();
}

void process_heap_fork_child(void)
{
    published_changes = UINT64_MAX; /* the caches changed: publish again */
    publish_bounds(&process_heap);
    process_lock = 0; /* no other thread exists to wake */
}

void process_heap_on_give_up(void (*fn)(const char *message))
{
    for (int i = 0; i < GIVE_UP_HOOKS; i++)
        if (!on_give_up[i] || on_give_up[i] == fn) {
            on_give_up[i] = fn;
            return;
        }
}

uint32_t process_heap_start(void)
{
    hmm_heap *h = process_heap_lock();
    if (h) {
        apply_options(h); /* in case the first allocation came before environ */
        process_heap_unlock();
    }
    size_t limit = option_default_size(OPTION_TCACHE);
    if (size_option(OPTION_TCACHE, &limit) && limit > 0xffff)
        limit = 0xffff;
    if (process_heap.check_level) /* every call must reach the checks */
        limit = 0;
    return (uint32_t)limit;
}
