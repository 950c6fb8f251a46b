/*
 * trace_api.c - the libc malloc names of libhmm-trace.so: each calls the
 * allocator's own (untraced_*, api_name.h) and records the call (trace.h).
 *
 * The arguments are added before the call and the results after it, so
 * that a call the allocator ends with a misuse report is recorded with
 * what it was asked.  A call the reserve served (a signal handler's, the
 * tracer's own) is dropped: the heap never saw it.
 */
#include "api_name.h"
#include "reserve.h"
#include "trace_hot.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#define HMM_EXPORT_TRACED __attribute__((visibility("default")))

void *untraced_malloc(size_t size);
void untraced_free(void *ptr);
void *untraced_calloc(size_t nmemb, size_t size);
void *untraced_realloc(void *ptr, size_t size);
void *untraced_reallocarray(void *ptr, size_t nmemb, size_t size);
void *untraced_memalign(size_t alignment, size_t size);
int untraced_posix_memalign(void **out, size_t alignment, size_t size);
void *untraced_aligned_alloc(size_t alignment, size_t size);
void *untraced_valloc(size_t size);
void *untraced_pvalloc(size_t size);
size_t untraced_malloc_usable_size(void *ptr);
void untraced_free_sized(void *ptr, size_t size);
void untraced_free_aligned_sized(void *ptr, size_t alignment, size_t size);
void *untraced_HmmAlloc(size_t size);
void untraced_HmmFree(void *ptr);
void *untraced_HmmRealloc(void *ptr, size_t size);
void *untraced_HmmCalloc(size_t nmemb, size_t size);
struct mallinfo2 untraced_mallinfo2(void);
struct mallinfo untraced_mallinfo(void);
void untraced_malloc_stats(void);
int untraced_malloc_trim(size_t pad);
int untraced_mallopt(int param, int value);
int untraced_malloc_info(int options, FILE *fp);

/* End a call that returned p: recorded unless the reserve served it. */
static inline __attribute__((always_inline)) void *returned(trace_call *c, void *p)
{
    if (__builtin_expect(reserve_holds(p), 0)) {
        trace_drop(c);
        return p;
    }
    trace_ptr(c, p);
    trace_end(c);
    return p;
}

/* ---- Allocating --------------------------------------------------------- */

static inline __attribute__((always_inline)) void *traced_alloc(enum trace_tag tag, void *(*fn)(size_t), size_t size)
{
    trace_call c;
    if (!trace_begin(&c, tag))
        return fn(size);
    trace_size(&c, size);
    void *p = fn(size);
    if (__builtin_expect(reserve_holds(p), 0))
        trace_drop(&c);
    else
        trace_end_block(&c, p);
    return p;
}

HMM_EXPORT_TRACED void *malloc(size_t size) { return traced_alloc(TRACE_MALLOC, untraced_malloc, size); }
HMM_EXPORT_TRACED void *valloc(size_t size) { return traced_alloc(TRACE_VALLOC, untraced_valloc, size); }
HMM_EXPORT_TRACED void *pvalloc(size_t size) { return traced_alloc(TRACE_PVALLOC, untraced_pvalloc, size); }
HMM_EXPORT_TRACED void *HmmAlloc(size_t size) { return traced_alloc(TRACE_HMM_ALLOC, untraced_HmmAlloc, size); }

/* calloc(nmemb, size), memalign(alignment, size), and their like: two
 * sizes, one block. */
static inline __attribute__((always_inline)) void *traced_two_sizes(enum trace_tag tag,
                                                                   void *(*fn)(size_t, size_t),
                                                                   size_t a, size_t b)
{
    trace_call c;
    if (!trace_begin(&c, tag))
        return fn(a, b);
    trace_size(&c, a);
    trace_size(&c, b);
    return returned(&c, fn(a, b));
}

HMM_EXPORT_TRACED void *calloc(size_t nmemb, size_t size)
{
    return traced_two_sizes(TRACE_CALLOC, untraced_calloc, nmemb, size);
}
HMM_EXPORT_TRACED void *HmmCalloc(size_t nmemb, size_t size)
{
    return traced_two_sizes(TRACE_HMM_CALLOC, untraced_HmmCalloc, nmemb, size);
}
HMM_EXPORT_TRACED void *memalign(size_t alignment, size_t size)
{
    return traced_two_sizes(TRACE_MEMALIGN, untraced_memalign, alignment, size);
}
HMM_EXPORT_TRACED void *aligned_alloc(size_t alignment, size_t size)
{
    return traced_two_sizes(TRACE_ALIGNED_ALLOC, untraced_aligned_alloc, alignment, size);
}

HMM_EXPORT_TRACED int posix_memalign(void **out, size_t alignment, size_t size)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_POSIX_MEMALIGN))
        return untraced_posix_memalign(out, alignment, size);
    trace_size(&c, alignment);
    trace_size(&c, size);
    int result = untraced_posix_memalign(out, alignment, size);
    void *p = result == 0 ? *out : NULL;
    if (reserve_holds(p)) {
        trace_drop(&c);
        return result;
    }
    trace_ptr(&c, p);
    trace_int(&c, result);
    trace_end(&c);
    return result;
}

/* ---- Resizing ------------------------------------------------------------ */

/* A block of the reserve's (a signal handler's) that realloc moves onto
 * the heap: to the trace, a new block. */
static inline __attribute__((always_inline)) void *traced_realloc(enum trace_tag tag, void *(*fn)(void *, size_t), void *ptr, size_t size)
{
    trace_call c;
    if (!trace_begin(&c, tag))
        return fn(ptr, size);
    trace_ptr(&c, reserve_holds(ptr) ? NULL : ptr);
    trace_size(&c, size);
    return returned(&c, fn(ptr, size));
}

HMM_EXPORT_TRACED void *realloc(void *ptr, size_t size)
{
    return traced_realloc(TRACE_REALLOC, untraced_realloc, ptr, size);
}
HMM_EXPORT_TRACED void *HmmRealloc(void *ptr, size_t size)
{
    return traced_realloc(TRACE_HMM_REALLOC, untraced_HmmRealloc, ptr, size);
}

HMM_EXPORT_TRACED void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_REALLOCARRAY))
        return untraced_reallocarray(ptr, nmemb, size);
    trace_ptr(&c, reserve_holds(ptr) ? NULL : ptr);
    trace_size(&c, nmemb);
    trace_size(&c, size);
    return returned(&c, untraced_reallocarray(ptr, nmemb, size));
}

/* ---- Freeing -------------------------------------------------------------- */

HMM_EXPORT_TRACED void free(void *ptr)
{
    trace_call c;
    if (reserve_holds(ptr) || !trace_begin(&c, TRACE_FREE)) {
        untraced_free(ptr);
        return;
    }
    trace_ptr(&c, ptr);
    untraced_free(ptr);
    trace_end_free(&c);
}

HMM_EXPORT_TRACED void HmmFree(void *ptr)
{
    trace_call c;
    if (reserve_holds(ptr) || !trace_begin(&c, TRACE_HMM_FREE)) {
        untraced_HmmFree(ptr);
        return;
    }
    trace_ptr(&c, ptr);
    untraced_HmmFree(ptr);
    trace_end(&c);
}

HMM_EXPORT_TRACED void free_sized(void *ptr, size_t size)
{
    trace_call c;
    if (reserve_holds(ptr) || !trace_begin(&c, TRACE_FREE_SIZED)) {
        untraced_free_sized(ptr, size);
        return;
    }
    trace_ptr(&c, ptr);
    trace_size(&c, size);
    untraced_free_sized(ptr, size);
    trace_end(&c);
}

HMM_EXPORT_TRACED void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
    trace_call c;
    if (reserve_holds(ptr) || !trace_begin(&c, TRACE_FREE_ALIGNED_SIZED)) {
        untraced_free_aligned_sized(ptr, alignment, size);
        return;
    }
    trace_ptr(&c, ptr);
    trace_size(&c, alignment);
    trace_size(&c, size);
    untraced_free_aligned_sized(ptr, alignment, size);
    trace_end(&c);
}

/* ---- Asking ---------------------------------------------------------------- */

HMM_EXPORT_TRACED size_t malloc_usable_size(void *ptr)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_MALLOC_USABLE_SIZE))
        return untraced_malloc_usable_size(ptr);
    trace_ptr(&c, ptr);
    size_t n = untraced_malloc_usable_size(ptr);
    trace_size(&c, n);
    trace_end(&c);
    return n;
}

HMM_EXPORT_TRACED int malloc_trim(size_t pad)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_MALLOC_TRIM))
        return untraced_malloc_trim(pad);
    trace_size(&c, pad);
    int result = untraced_malloc_trim(pad);
    trace_int(&c, result);
    trace_end(&c);
    return result;
}

HMM_EXPORT_TRACED int mallopt(int param, int value)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_MALLOPT))
        return untraced_mallopt(param, value);
    trace_int(&c, param);
    trace_int(&c, value);
    int result = untraced_mallopt(param, value);
    trace_int(&c, result);
    trace_end(&c);
    return result;
}

HMM_EXPORT_TRACED int malloc_info(int options, FILE *fp)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_MALLOC_INFO))
        return untraced_malloc_info(options, fp);
    trace_int(&c, options);
    int result = untraced_malloc_info(options, fp);
    trace_int(&c, result);
    trace_end(&c);
    return result;
}

HMM_EXPORT_TRACED struct mallinfo2 mallinfo2(void)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_MALLINFO2))
        return untraced_mallinfo2();
    struct mallinfo2 info = untraced_mallinfo2();
    trace_end(&c);
    return info;
}

HMM_EXPORT_TRACED struct mallinfo mallinfo(void)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_MALLINFO))
        return untraced_mallinfo();
    struct mallinfo info = untraced_mallinfo();
    trace_end(&c);
    return info;
}

HMM_EXPORT_TRACED void malloc_stats(void)
{
    trace_call c;
    if (!trace_begin(&c, TRACE_MALLOC_STATS)) {
        untraced_malloc_stats();
        return;
    }
    untraced_malloc_stats();
    trace_end(&c);
}

/* glibc's other names for these, traced as they are. */
HMM_ALIASES(HMM_DEFINE_ALIAS)
