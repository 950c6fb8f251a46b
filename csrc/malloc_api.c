/*
 * malloc_api.c - the libc malloc names, on the process heap.
 *
 * This is everything glibc's manual ("Replacing malloc") asks a replacement
 * to provide, with glibc's semantics where the core's differ:
 *   - failure is NULL with errno = ENOMEM (sizes above PTRDIFF_MAX fail);
 *   - malloc(0) returns a unique pointer; realloc(p, 0) frees and returns
 *     NULL;
 *   - calloc and reallocarray check n * size for overflow;
 *   - posix_memalign answers EINVAL for a bad alignment and leaves *out
 *     alone; aligned_alloc wants a power of two (else EINVAL);
 *   - free never changes errno.
 * The glibc-internal names at the bottom are aliases of the public ones.
 * The seed API (HmmAlloc & co.) is here too: the same heap, the seed's
 * contract.  The reporting and tuning names (mallinfo, mallopt, ...) are
 * in malloc_info.c.
 *
 * Small requests and frees are served by the thread's cache when it can
 * (thread_cache.h) and take the process lock only when it cannot.
 *
 * Every name marks its thread as inside the allocator for the length of
 * the call (calls.h).  Two kinds of call are served without the heap, by
 * the "elsewhere" functions below: a call from a signal handler that
 * interrupted its thread inside the allocator (the mark was set), and every
 * call after the heap was given up on a misuse report (process_heap_lock
 * returned NULL).  The names call each other only through the unmarked
 * do_* functions.
 */
#define _GNU_SOURCE
#include "api_name.h"
#include "arena.h"
#include "block.h"
#include "calls.h"
#include "depot.h"
#include "fork.h"
#include "format.h"
#include "heap.h"
#include "process_heap.h"
#include "report.h"
#include "reserve.h"
#include "stats.h"
#include "thread_cache.h"
#include "options.h"
#ifdef HMM_TRACING
#include "trace.h"
#endif

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static int is_power_of_two(size_t n) { return n && !(n & (n - 1)); }

static void free_now(void *ptr);

/* ---- Calls served without the heap ---------------------------------------- */

/* The bytes usable at ptr, without asking the heap: known for the
 * reserve's blocks and for in-use blocks of the heap's main segments (whose
 * sealed header can be read safely), 0 for anything else. */
static size_t usable_elsewhere(void *ptr)
{
    if (reserve_holds(ptr))
        return reserve_usable(ptr);
    uintptr_t p = (uintptr_t)ptr;
    if ((p & (HMM_ALIGNMENT - 1)) || !(cache_covers(p) || arena_holds(ptr)))
        return 0;
    hmm_block *b = block_of(ptr);
    size_t word = b->size_flags;
    if (header_fault(b, word) || (word & (HMM_IN_USE | HMM_MAPPED | HMM_GUARDED)) != HMM_IN_USE)
        return 0;
    return (word & HMM_SIZE_MASK) - HMM_OVERHEAD;
}

static void *alloc_elsewhere(size_t size, size_t alignment)
{
    void *p = reserve_alloc(size, alignment);
    if (!p)
        errno = ENOMEM;
    return p;
}

/* A free of a reserve block that is not one, or not any more. */
static __attribute__((noreturn, cold)) void bad_reserve_free(void *ptr, int freed_already)
{
    char line[128];
    hmm_text t;
    text_init(&t, line, sizeof line);
    text_str(&t, freed_already ? "hmm: free(): double free of " : "hmm: free(): invalid pointer ");
    text_hex(&t, (uintptr_t)ptr);
    text_str(&t, freed_already ? " (a block of the reserve)" : " (inside the reserve)");
    process_heap_fatal(line);
}

/* Check mode only: a signal handler called `call` while its thread was
 * inside `interrupted`.  A bug finder says so, where the default mode
 * quietly serves the call from the reserve. */
static __attribute__((noreturn, cold)) void reentered(enum hmm_call call, enum hmm_call interrupted)
{
    char line[160];
    hmm_text t;
    text_init(&t, line, sizeof line);
    text_str(&t, "hmm: ");
    text_str(&t, call_name(call));
    text_str(&t, ": re-entered on the same thread while in ");
    text_str(&t, call_name(interrupted));
    text_str(&t, " (from a signal handler?)");
    process_heap_fatal(line);
}

/* A free that may not touch the heap.  A reserve block is marked free.  A
 * heap block waits in this thread's deferred frees for its next ordinary
 * call (`may_defer`: a signal handler's free) or, once the heap is given
 * up, is left where it is. */
static void free_elsewhere(void *ptr, int may_defer)
{
    if (!ptr)
        return;
    int saved_errno = errno;
    call_state *cs = &hmm_thread_cache.calls;
    if (reserve_holds(ptr)) {
        int freed = reserve_free(ptr);
        if (freed != 0 && !process_heap_given_up())
            bad_reserve_free(ptr, freed > 0);
    } else if (may_defer) {
        /* Claim a slot with one atomic step: a second handler nested in
         * this one must not take the same.  Only this thread's handlers
         * add, and free_deferred takes the slots with signals blocked, so
         * a slot claimed is stored before anyone reads it.  When all are
         * taken, the block is left where it is (a leak, counted below). */
        uint8_t n = __atomic_load_n(&cs->deferred, __ATOMIC_RELAXED);
        while (n < CALL_DEFERRED_MAX &&
               !__atomic_compare_exchange_n(&cs->deferred, &n, (uint8_t)(n + 1), 0, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
            ;
        if (n < CALL_DEFERRED_MAX)
            cs->deferred_frees[n] = ptr;
    }
    reserve_count_call();
    errno = saved_errno;
}

static void *realloc_elsewhere(void *ptr, size_t size, int may_defer)
{
    if (!ptr)
        return alloc_elsewhere(size, HMM_ALIGNMENT);
    if (!size) {
        free_elsewhere(ptr, may_defer);
        return NULL;
    }
    size_t have = usable_elsewhere(ptr);
    if (!have) { /* its size cannot be known without the heap: it stays */
        errno = ENOMEM;
        return NULL;
    }
    void *p = alloc_elsewhere(size, HMM_ALIGNMENT);
    if (p) {
        memcpy(p, ptr, have < size ? have : size);
        free_elsewhere(ptr, may_defer);
    }
    return p;
}

/* The deferred frees of this thread, now that it is in an ordinary call:
 * taken with signals blocked, so that a handler deferring one more
 * meanwhile cannot be lost. */
static __attribute__((noinline)) void free_deferred(call_state *cs)
{
    int saved_errno = errno;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    void *frees[CALL_DEFERRED_MAX];
    unsigned n = cs->deferred;
    memcpy(frees, cs->deferred_frees, n * sizeof frees[0]);
    cs->deferred = 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (unsigned i = 0; i < n; i++)
        free_now(frees[i]);
    errno = saved_errno;
}

int call_enter_slow(enum hmm_call call)
{
    call_state *cs = &hmm_thread_cache.calls;
    if (cs->in_call != CALL_NONE) { /* a signal handler's call, or the tracer's */
        if (process_heap_check_level() && cs->in_call != CALL_TRACER)
            reentered(call, (enum hmm_call)cs->in_call);
        return 0;
    }
    cs->in_call = (uint8_t)call;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    free_deferred(cs);
    return 1;
}

/* ---- Allocation and free ----------------------------------------------- */

static void *nomem(void)
{
    errno = ENOMEM;
    return NULL;
}

/* A request refused here, before the heap saw it: count it as the heap
 * counts its own (failed_calls), and fail with `error`. */
static void *refuse(int error)
{
    process_heap_count_refused(); /* no lock: this may be a signal handler's call */
    errno = error;
    return NULL;
}

/* May this thread's medium and aligned requests move to an arena
 * (arena.h)?  Only while the caches are on. */
static int may_use_arena(void)
{
    return hmm_thread_cache.state == CACHE_ACTIVE;
}

/* serve(h, a, b) on h, which is locked, then unlocked; what an arena has
 * no room for (its span is full), the process heap serves. */
typedef void *serve_fn(hmm_heap *h, size_t a, size_t b);

static void *serve_or_retry(hmm_heap *h, serve_fn *serve, size_t a, size_t b)
{
    void *p = serve(h, a, b);
    int arena = heap_is_arena(h);
    heap_unlock(h);
    if (!p && arena && (h = process_heap_lock()) != NULL) {
        p = serve(h, a, b);
        process_heap_unlock();
    }
    return p;
}

static void *serve_alloc(hmm_heap *h, size_t size, size_t unused)
{
    (void)unused;
    return hmm_heap_alloc(h, size);
}

/* A medium request (above what the caches hold): the thread's arena, if
 * it has one. */
static void *medium_malloc(size_t size)
{
    hmm_heap *h = heap_lock_for_request(size, may_use_arena());
    if (!h)
        return alloc_elsewhere(size, HMM_ALIGNMENT);
    void *p = serve_or_retry(h, serve_alloc, size, 0);
    return p ? p : nomem();
}

static __attribute__((noinline)) void *malloc_slow(size_t size)
{
    cache_start_if_new();
    if (size > CACHE_MAX_REQUEST)
        return medium_malloc(size);
    if (depot_ever_given() && cache_refill_from_depot(size)) { /* no lock: a batch other threads gave */
        void *p = cache_take(size);
        if (p)
            return p;
    }
    hmm_heap *h = process_heap_lock();
    if (!h)
        return alloc_elsewhere(size, HMM_ALIGNMENT);
    void *p = hmm_heap_alloc(h, size);
    if (p)
        cache_after_slow_malloc(h);
    process_heap_unlock();
    return p ? p : nomem();
}

static inline void *do_malloc(size_t size)
{
    void *p = cache_take(size);
    return __builtin_expect(p != NULL, 1) ? p : malloc_slow(size);
}

/* malloc and free, the hottest names, take the busy way in (calls.h) out
 * of line, so that their fast paths keep nothing across a call. */
static __attribute__((noinline, cold)) void *malloc_busy(size_t size)
{
    if (!call_enter_slow(CALL_MALLOC))
        return alloc_elsewhere(size, HMM_ALIGNMENT);
    void *p = do_malloc(size);
    call_leave();
    return p;
}

/* The slow ways out of malloc and free's fast paths, which leave the call
 * themselves: the fast paths then end in a jump to them and keep nothing
 * across a call (no register saved and restored on every call). */
static __attribute__((noinline)) void *malloc_slow_leave(size_t size)
{
    void *p = malloc_slow(size);
    call_leave();
    return p;
}

HMM_EXPORT void *HMM_API(malloc)(size_t size)
{
    if (call_busy())
        return malloc_busy(size);
    call_mark(CALL_MALLOC);
    void *p = cache_take(size);
    if (__builtin_expect(p == NULL, 0))
        return malloc_slow_leave(size);
    call_leave();
    return p;
}

static __attribute__((noinline)) void free_slow(void *ptr, int bin_full)
{
    if (!ptr)
        return;
    if (reserve_holds(ptr)) {
        free_elsewhere(ptr, 0);
        return;
    }
    if (bin_full && cache_give_to_depot(ptr))
        return; /* half the bin went to the depot, ptr to the bin: no lock */
    int saved_errno = errno;
    cache_start_if_new();
    /* A full bin is one of the process heap's; any other pointer may be an
     * arena's. */
    hmm_heap *h = bin_full ? process_heap_lock() : heap_lock_for_pointer(ptr);
    if (!h) {
        free_elsewhere(ptr, 0);
        errno = saved_errno;
        return;
    }
    heap_serving(h, CALL_FREE); /* the flush frees blocks too */
    if (bin_full)
        cache_flush_half(h, ptr);
    hmm_heap_free(h, ptr);
    heap_unlock(h);
    errno = saved_errno;
}

static inline __attribute__((always_inline)) void do_free(void *ptr)
{
    if (!ptr)
        return;
    int parked = cache_put(ptr);
    if (parked != CACHE_PARKED)
        free_slow(ptr, parked == CACHE_BIN_FULL);
}

static void free_now(void *ptr)
{
    do_free(ptr);
}

static __attribute__((noinline, cold)) void free_busy(void *ptr)
{
    if (!call_enter_slow(CALL_FREE)) {
        free_elsewhere(ptr, 1);
        return;
    }
    do_free(ptr);
    call_leave();
}

static __attribute__((noinline)) void free_slow_leave(void *ptr, int bin_full)
{
    free_slow(ptr, bin_full);
    call_leave();
}

HMM_EXPORT void HMM_API(free)(void *ptr)
{
    if (call_busy()) {
        free_busy(ptr);
        return;
    }
    call_mark(CALL_FREE);
    int parked = cache_put(ptr); /* NULL is not ours: free_slow takes it */
    if (__builtin_expect(parked != CACHE_PARKED, 0)) {
        free_slow_leave(ptr, parked == CACHE_BIN_FULL);
        return;
    }
    call_leave();
}

/* Zeroed here: a reserve chunk whose blocks were all freed is carved again
 * from its start (reserve.c), so its bytes are not always fresh from mmap. */
static void *calloc_elsewhere(size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = alloc_elsewhere(total, HMM_ALIGNMENT);
    return p ? memset(p, 0, total) : NULL;
}

static void *do_calloc(size_t nmemb, size_t size)
{
    size_t total;
    int overflow = __builtin_mul_overflow(nmemb, size, &total);
    if (!overflow) {
        void *p = cache_take(total);
        if (p) {
            hmm_thread_cache.callocs++;
            return memset(p, 0, block_usable(block_of(p)));
        }
    }
    /* Small ones stay on the process heap, whose blocks the caches take. */
    hmm_heap *h = overflow || total <= CACHE_MAX_REQUEST ? process_heap_lock()
                                                          : heap_lock_for_request(total, may_use_arena());
    if (!h)
        return calloc_elsewhere(nmemb, size);
    void *p = serve_or_retry(h, hmm_heap_calloc, nmemb, size);
    return p ? p : nomem();
}

HMM_EXPORT void *HMM_API(calloc)(size_t nmemb, size_t size)
{
    if (!call_enter(CALL_CALLOC))
        return calloc_elsewhere(nmemb, size);
    void *p = do_calloc(nmemb, size);
    call_leave();
    return p;
}

/* realloc of a reserve block, in an ordinary call: onto the heap. */
static void *realloc_from_reserve(void *ptr, size_t size)
{
    if (!size) {
        free_elsewhere(ptr, 0);
        return NULL;
    }
    size_t have = reserve_usable(ptr);
    if (!have) {
        int freed = reserve_free(ptr);
        bad_reserve_free(ptr, freed > 0);
    }
    void *p = do_malloc(size);
    if (p) {
        memcpy(p, ptr, have < size ? have : size);
        free_elsewhere(ptr, 0);
    }
    return p;
}

/* An arena (its lock held) had no room to grow ptr, or to make it: the
 * block moves to the process heap. */
static void *realloc_out_of_arena(hmm_heap *arena, void *ptr, size_t size)
{
    size_t have = ptr ? hmm_heap_usable_size(arena, ptr) : 0; /* ptr was checked: it is intact */
    heap_unlock(arena);
    hmm_heap *h = process_heap_lock();
    void *p = h ? hmm_heap_alloc(h, size) : NULL;
    if (h)
        process_heap_unlock();
    if (!p)
        return nomem();
    if (ptr) {
        memcpy(p, ptr, have < size ? have : size);
        free_now(ptr);
    }
    return p;
}

static inline __attribute__((always_inline)) void *do_realloc(void *ptr, size_t size)
{
    if (ptr && cache_realloc_in_place(ptr, size))
        return ptr; /* it fits as it is: no lock */
    if (ptr && reserve_holds(ptr))
        return realloc_from_reserve(ptr, size);
    hmm_heap *h = ptr ? heap_lock_for_pointer(ptr)
                      : size <= CACHE_MAX_REQUEST ? process_heap_lock() : heap_lock_for_request(size, may_use_arena());
    if (!h)
        return realloc_elsewhere(ptr, size, 0);
    void *p = hmm_heap_realloc(h, ptr, size);
    if (!p && size && heap_is_arena(h))
        return realloc_out_of_arena(h, ptr, size);
    heap_unlock(h);
    if (!p && (size || !ptr)) /* realloc(p, 0) freeing p is not a failure */
        return nomem();
    return p;
}

HMM_EXPORT void *HMM_API(realloc)(void *ptr, size_t size)
{
    if (!call_enter(CALL_REALLOC))
        return realloc_elsewhere(ptr, size, 1);
    void *p = do_realloc(ptr, size);
    call_leave();
    return p;
}

HMM_EXPORT void *HMM_API(reallocarray)(void *ptr, size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        return refuse(ENOMEM);
    if (!call_enter(CALL_REALLOCARRAY))
        return realloc_elsewhere(ptr, total, 1);
    void *p = do_realloc(ptr, total);
    call_leave();
    return p;
}

/* The aligned names, once their arguments are checked: NULL on failure,
 * errno not yet set. */
static void *aligned(enum hmm_call call, size_t alignment, size_t size)
{
    if (!call_enter(call))
        return reserve_alloc(size, alignment);
    if (alignment <= HMM_ALIGNMENT) { /* every block is: the thread's cache can serve it */
        void *p = cache_take(size);
        if (p) {
            hmm_thread_cache.memaligns++;
            call_leave();
            return p;
        }
    }
    hmm_heap *h = heap_lock_for_request(size, may_use_arena());
    void *p = h ? serve_or_retry(h, hmm_heap_memalign, alignment, size) : reserve_alloc(size, alignment);
    call_leave();
    return p;
}

HMM_EXPORT void *HMM_API(memalign)(size_t alignment, size_t size)
{
    if (alignment > SIZE_MAX / 2 + 1)
        return refuse(EINVAL);
    void *p = aligned(CALL_MEMALIGN, alignment, size); /* the core rounds odd alignments up */
    return p ? p : nomem();
}

HMM_EXPORT int HMM_API(posix_memalign)(void **out, size_t alignment, size_t size)
{
    if (!is_power_of_two(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved_errno = errno;
    void *p = aligned(CALL_POSIX_MEMALIGN, alignment, size);
    if (!p) {
        errno = ENOMEM; /* as glibc's does, and programs check */
        return ENOMEM;
    }
    errno = saved_errno;
    *out = p;
    return 0;
}

HMM_EXPORT void *HMM_API(aligned_alloc)(size_t alignment, size_t size)
{
    if (!is_power_of_two(alignment))
        return refuse(EINVAL);
    void *p = aligned(CALL_ALIGNED_ALLOC, alignment, size);
    return p ? p : nomem();
}

HMM_EXPORT void *HMM_API(valloc)(size_t size)
{
    void *p = aligned(CALL_VALLOC, (size_t)getpagesize(), size);
    return p ? p : nomem();
}

HMM_EXPORT void *HMM_API(pvalloc)(size_t size)
{
    size_t page = (size_t)getpagesize();
    if (size > SIZE_MAX - page)
        return refuse(ENOMEM);
    size_t rounded = size ? align_up(size, page) : page;
    void *p = aligned(CALL_PVALLOC, page, rounded);
    return p ? p : nomem();
}

HMM_EXPORT size_t HMM_API(malloc_usable_size)(void *ptr)
{
    if (!ptr)
        return 0;
    if (!call_enter(CALL_USABLE_SIZE))
        return usable_elsewhere(ptr);
    size_t n;
    hmm_heap *h = reserve_holds(ptr) ? NULL : heap_lock_for_pointer(ptr);
    if (h) {
        n = hmm_heap_usable_size(h, ptr);
        heap_unlock(h);
    } else {
        n = usable_elsewhere(ptr);
    }
    call_leave();
    return n;
}

/* C23's sized frees: the size is a hint we do not need. */
HMM_EXPORT void HMM_API(free_sized)(void *ptr, size_t size)
{
    (void)size;
    if (!call_enter(CALL_FREE_SIZED)) {
        free_elsewhere(ptr, 1);
        return;
    }
    do_free(ptr);
    call_leave();
}

HMM_EXPORT void HMM_API(free_aligned_sized)(void *ptr, size_t alignment, size_t size)
{
    (void)alignment;
    (void)size;
    if (!call_enter(CALL_FREE_ALIGNED_SIZED)) {
        free_elsewhere(ptr, 1);
        return;
    }
    do_free(ptr);
    call_leave();
}

/* ---- Start-up ------------------------------------------------------------ */

/* The library's constructor.  The heap may have served calls already
 * (ld.so allocates through us while it loads libraries); now the
 * environment can be read, and the caches, the exit report and the fork
 * handlers set up. */
__attribute__((constructor)) static void library_start(void)
{
    cache_setup(process_heap_start());
    report_prepare();
    fork_handlers_register();
#ifdef HMM_TRACING
    trace_start();
#else
    if (option_value(OPTION_TRACE) && option_switch(OPTION_TRACE) != 0)
        report_line("HMM_TRACE is set, but this is libhmm.so, which does not trace: ",
                    "preload libhmm-trace.so (hmm-run --trace FILE)", NULL);
#endif
}

/* ---- The seed API ------------------------------------------------------ */

HMM_EXPORT void *HMM_API(HmmAlloc)(size_t size)
{
    return size ? HMM_API(malloc)(size) : NULL;
}

HMM_EXPORT void HMM_API(HmmFree)(void *ptr)
{
    HMM_API(free)(ptr);
}

HMM_EXPORT void *HMM_API(HmmRealloc)(void *ptr, size_t size)
{
    if (!ptr)
        return HMM_API(HmmAlloc)(size);
    return HMM_API(realloc)(ptr, size);
}

HMM_EXPORT void *HMM_API(HmmCalloc)(size_t nmemb, size_t size)
{
    return nmemb && size ? HMM_API(calloc)(nmemb, size) : NULL;
}

/* ---- Other names for the same functions ---------------------------------- */

/* Without tracing; libhmm-trace.so's aliases are trace_api.c's. */
#ifndef HMM_TRACING
HMM_ALIASES(HMM_DEFINE_ALIAS)
#endif
