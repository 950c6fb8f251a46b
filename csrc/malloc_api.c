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
 * contract.
 *
 * Small requests and frees are served by the thread's cache when it can
 * (thread_cache.h) and take the process lock only when it cannot.
 *
 * Every name marks its thread as inside the allocator for the length of
 * the call (enter/leave).  A signal handler that calls the allocator while
 * its thread is inside it would find a heap or a cache half-way through a
 * change, or the lock held by its own thread: that is reported and aborts
 * (process_heap_reentered), where it would otherwise corrupt the heap
 * silently or deadlock.  The names call each other only through the
 * unmarked do_* functions.
 */
#define _GNU_SOURCE
#include "block.h"
#include "heap.h"
#include "process_heap.h"
#include "report.h"
#include "stats.h"
#include "thread_cache.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HMM_EXPORT __attribute__((visibility("default")))

static int is_power_of_two(size_t n) { return n && !(n & (n - 1)); }

/* The names that mark their thread, numbered from 1 for thread_cache's
 * in_call byte. */
#define HMM_CALLS(X)                                            \
    X(CALL_MALLOC, "malloc()") X(CALL_FREE, "free()")           \
    X(CALL_CALLOC, "calloc()") X(CALL_REALLOC, "realloc()")     \
    X(CALL_REALLOCARRAY, "reallocarray()")                      \
    X(CALL_MEMALIGN, "memalign()")                              \
    X(CALL_POSIX_MEMALIGN, "posix_memalign()")                  \
    X(CALL_ALIGNED_ALLOC, "aligned_alloc()")                    \
    X(CALL_VALLOC, "valloc()") X(CALL_PVALLOC, "pvalloc()")     \
    X(CALL_USABLE_SIZE, "malloc_usable_size()")                 \
    X(CALL_FREE_SIZED, "free_sized()")                          \
    X(CALL_FREE_ALIGNED_SIZED, "free_aligned_sized()")          \
    X(CALL_MALLINFO, "mallinfo()") X(CALL_MALLINFO2, "mallinfo2()") \
    X(CALL_MALLOC_STATS, "malloc_stats()")                      \
    X(CALL_MALLOC_TRIM, "malloc_trim()")

enum hmm_call {
    CALL_NONE = 0,
#define HMM_CALL_ID(id, name) id,
    HMM_CALLS(HMM_CALL_ID)
#undef HMM_CALL_ID
};

static const char *const call_names[] = {
    [CALL_NONE] = "?",
#define HMM_CALL_NAME(id, name) [id] = name,
    HMM_CALLS(HMM_CALL_NAME)
#undef HMM_CALL_NAME
};

static inline thread_cache *enter(enum hmm_call call)
{
    thread_cache *tc = &hmm_thread_cache;
    if (__builtin_expect(tc->in_call != CALL_NONE, 0))
        process_heap_reentered(call_names[call], call_names[tc->in_call]);
    tc->in_call = (uint8_t)call;
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* marked before anything changes */
    return tc;
}

static inline void leave(thread_cache *tc)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* everything done before unmarked */
    tc->in_call = CALL_NONE;
}

static void *nomem(void)
{
    errno = ENOMEM;
    return NULL;
}

/* A request refused here, before the heap saw it: count it as the heap
 * counts its own (failed_calls), and fail with `error`. */
static void *refuse(int error)
{
    hmm_heap *h = process_heap_lock();
    h->counters.failed_calls++;
    process_heap_unlock();
    errno = error;
    return NULL;
}

static __attribute__((noinline)) void *malloc_slow(size_t size)
{
    cache_start_if_new();
    hmm_heap *h = process_heap_lock();
    void *p = hmm_heap_alloc(h, size);
    if (p)
        cache_refill(h, size);
    process_heap_unlock();
    return p ? p : nomem();
}

static inline void *do_malloc(size_t size)
{
    void *p = cache_take(size);
    return __builtin_expect(p != NULL, 1) ? p : malloc_slow(size);
}

HMM_EXPORT void *malloc(size_t size)
{
    thread_cache *tc = enter(CALL_MALLOC);
    void *p = do_malloc(size);
    leave(tc);
    return p;
}

static __attribute__((noinline)) void free_slow(void *ptr, int bin_full)
{
    int saved_errno = errno;
    cache_start_if_new();
    hmm_heap *h = process_heap_lock();
    h->call = "free()"; /* the flush frees blocks too */
    if (bin_full)
        cache_flush_half(h, ptr);
    hmm_heap_free(h, ptr);
    process_heap_unlock();
    errno = saved_errno;
}

static inline void do_free(void *ptr)
{
    if (!ptr)
        return;
    int parked = cache_put(ptr);
    if (parked != CACHE_PARKED)
        free_slow(ptr, parked == CACHE_BIN_FULL);
}

HMM_EXPORT void free(void *ptr)
{
    thread_cache *tc = enter(CALL_FREE);
    do_free(ptr);
    leave(tc);
}

static void *do_calloc(size_t nmemb, size_t size)
{
    size_t total;
    if (!__builtin_mul_overflow(nmemb, size, &total)) {
        void *p = cache_take(total);
        if (p) {
            hmm_thread_cache.callocs++;
            return memset(p, 0, block_usable(block_of(p)));
        }
    }
    hmm_heap *h = process_heap_lock();
    void *p = hmm_heap_calloc(h, nmemb, size);
    process_heap_unlock();
    return p ? p : nomem();
}

HMM_EXPORT void *calloc(size_t nmemb, size_t size)
{
    thread_cache *tc = enter(CALL_CALLOC);
    void *p = do_calloc(nmemb, size);
    leave(tc);
    return p;
}

static inline void *do_realloc(void *ptr, size_t size)
{
    if (ptr && cache_realloc_in_place(ptr, size))
        return ptr; /* it fits as it is: no lock */
    hmm_heap *h = process_heap_lock();
    void *p = hmm_heap_realloc(h, ptr, size);
    process_heap_unlock();
    if (!p && (size || !ptr)) /* realloc(p, 0) freeing p is not a failure */
        return nomem();
    return p;
}

HMM_EXPORT void *realloc(void *ptr, size_t size)
{
    thread_cache *tc = enter(CALL_REALLOC);
    void *p = do_realloc(ptr, size);
    leave(tc);
    return p;
}

HMM_EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        return refuse(ENOMEM);
    thread_cache *tc = enter(CALL_REALLOCARRAY);
    void *p = do_realloc(ptr, total);
    leave(tc);
    return p;
}

static void *aligned(enum hmm_call call, size_t alignment, size_t size)
{
    thread_cache *tc = enter(call);
    hmm_heap *h = process_heap_lock();
    void *p = hmm_heap_memalign(h, alignment, size);
    process_heap_unlock();
    leave(tc);
    return p;
}

HMM_EXPORT void *memalign(size_t alignment, size_t size)
{
    if (alignment > SIZE_MAX / 2 + 1)
        return refuse(EINVAL);
    void *p = aligned(CALL_MEMALIGN, alignment, size); /* the core rounds odd alignments up */
    return p ? p : nomem();
}

HMM_EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!is_power_of_two(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved_errno = errno;
    void *p = aligned(CALL_POSIX_MEMALIGN, alignment, size);
    errno = saved_errno;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

HMM_EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    if (!is_power_of_two(alignment))
        return refuse(EINVAL);
    void *p = aligned(CALL_ALIGNED_ALLOC, alignment, size);
    return p ? p : nomem();
}

HMM_EXPORT void *valloc(size_t size)
{
    void *p = aligned(CALL_VALLOC, (size_t)getpagesize(), size);
    return p ? p : nomem();
}

HMM_EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)getpagesize();
    if (size > SIZE_MAX - page)
        return refuse(ENOMEM);
    size_t rounded = size ? align_up(size, page) : page;
    void *p = aligned(CALL_PVALLOC, page, rounded);
    return p ? p : nomem();
}

HMM_EXPORT size_t malloc_usable_size(void *ptr)
{
    if (!ptr)
        return 0;
    thread_cache *tc = enter(CALL_USABLE_SIZE);
    hmm_heap *h = process_heap_lock();
    size_t n = hmm_heap_usable_size(h, ptr);
    process_heap_unlock();
    leave(tc);
    return n;
}

/* C23's sized frees: the size is a hint we do not need. */
HMM_EXPORT void free_sized(void *ptr, size_t size)
{
    (void)size;
    thread_cache *tc = enter(CALL_FREE_SIZED);
    do_free(ptr);
    leave(tc);
}

HMM_EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
    (void)alignment;
    (void)size;
    thread_cache *tc = enter(CALL_FREE_ALIGNED_SIZED);
    do_free(ptr);
    leave(tc);
}

/* ---- Reporting on HMM's heap through glibc's names ---------------------- */

/* The top free block, which trimming could give back (glibc's keepcost). */
static size_t top_free_bytes(void)
{
    hmm_heap *h = process_heap_lock();
    size_t top = h->top ? block_size(h->top) : 0;
    process_heap_unlock();
    return top;
}

static struct mallinfo2 do_mallinfo2(void)
{
    struct hmm_stats s;
    process_heap_stats(&s);
    struct mallinfo2 info = {0};
    info.arena = s.heap_size;
    info.ordblks = s.free_blocks;
    info.uordblks = s.bytes_in_use;
    info.fordblks = s.free_bytes;
    info.keepcost = top_free_bytes();
    return info;
}

HMM_EXPORT struct mallinfo2 mallinfo2(void)
{
    thread_cache *tc = enter(CALL_MALLINFO2);
    struct mallinfo2 info = do_mallinfo2();
    leave(tc);
    return info;
}

static int clamp_int(size_t n) { return n > (size_t)0x7fffffff ? 0x7fffffff : (int)n; }

HMM_EXPORT struct mallinfo mallinfo(void)
{
    thread_cache *tc = enter(CALL_MALLINFO);
    struct mallinfo2 wide = do_mallinfo2();
    leave(tc);
    struct mallinfo info = {0};
    info.arena = clamp_int(wide.arena);
    info.ordblks = clamp_int(wide.ordblks);
    info.uordblks = clamp_int(wide.uordblks);
    info.fordblks = clamp_int(wide.fordblks);
    info.keepcost = clamp_int(wide.keepcost);
    return info;
}

HMM_EXPORT void malloc_stats(void)
{
    thread_cache *tc = enter(CALL_MALLOC_STATS);
    struct hmm_stats s;
    process_heap_stats(&s);
    hmm_heap *h = process_heap_lock();
    const char *policy = hmm_heap_policy(h);
    int check_level = h->check_level;
    process_heap_unlock();
    report_stats(&s, policy, check_level, STDERR_FILENO);
    leave(tc);
}

HMM_EXPORT int malloc_trim(size_t pad)
{
    thread_cache *tc = enter(CALL_MALLOC_TRIM);
    hmm_heap *h = process_heap_lock();
    h->call = "malloc_trim()";
    int released = hmm_heap_trim(h, pad);
    process_heap_unlock();
    leave(tc);
    return released;
}

/* ---- The seed API ------------------------------------------------------ */

HMM_EXPORT void *HmmAlloc(size_t size)
{
    return size ? malloc(size) : NULL;
}

HMM_EXPORT void HmmFree(void *ptr)
{
    free(ptr);
}

HMM_EXPORT void *HmmRealloc(void *ptr, size_t size)
{
    if (!ptr)
        return HmmAlloc(size);
    return realloc(ptr, size);
}

HMM_EXPORT void *HmmCalloc(size_t nmemb, size_t size)
{
    return nmemb && size ? calloc(nmemb, size) : NULL;
}

/* ---- Other names for the same functions ---------------------------------- */

/* X(name, target): every name below resolves to its target. */
#define HMM_ALIASES(X)                  \
    X(cfree, free)                      \
    X(__libc_malloc, malloc)            \
    X(__libc_free, free)                \
    X(__libc_calloc, calloc)            \
    X(__libc_realloc, realloc)          \
    X(__libc_memalign, memalign)        \
    X(__libc_valloc, valloc)            \
    X(__libc_pvalloc, pvalloc)          \
    X(__posix_memalign, posix_memalign)

#define HMM_DEFINE_ALIAS(name, target) \
    extern __typeof(target) name __attribute__((alias(#target), copy(target), visibility("default")));
HMM_ALIASES(HMM_DEFINE_ALIAS)
