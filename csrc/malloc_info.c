/*
 * malloc_info.c - glibc's reporting and tuning names, telling the truth
 * about HMM's heap: mallinfo, mallinfo2, malloc_info, malloc_stats,
 * malloc_trim and mallopt.
 *
 * mallinfo2's fields keep glibc's meaning (see the table in do_mallinfo2):
 * HMM's "fast bins" are its thread caches, small freed blocks kept unmerged;
 * its mapped blocks are glibc's mmapped chunks.  malloc_info writes the same
 * XML document glibc's does, with HMM's heap as arena 0, so that tools that
 * parse it keep working.  mallopt honours what maps onto HMM and answers 0,
 * as glibc does for an unknown parameter, for what does not.
 *
 * A call made from a signal handler while its thread is inside the
 * allocator (calls.h) must not take the lock its thread may hold: it
 * reports nothing (zeros, 0).  Printing is done after the call's mark is
 * gone and with cancellation off: fprintf may allocate, and write() is a
 * cancellation point that would unwind a thread out of the middle of it.
 */
#define _GNU_SOURCE
#include "calls.h"
#include "depot.h"
#include "heap.h"
#include "process_heap.h"
#include "report.h"
#include "stats.h"
#include "thread_cache.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HMM_EXPORT __attribute__((visibility("default")))

static struct mallinfo2 do_mallinfo2(void)
{
    struct hmm_stats s;
    process_heap_stats(&s);
    struct mallinfo2 info = {0};
    info.arena = s.heap_size;                       /* bytes the heap took from the system */
    info.ordblks = s.free_blocks;                   /* free blocks, the top included */
    info.smblks = s.cached_blocks;                  /* "fast bins": the thread caches */
    info.hblks = s.mapped_blocks;                   /* blocks in mappings of their own */
    info.hblkhd = s.mapped_bytes;
    info.usmblks = 0;                               /* always 0, as in glibc */
    info.fsmblks = s.cached_bytes;
    info.fordblks = s.free_bytes + s.cached_bytes;  /* free, fast bins included */
    info.uordblks = info.arena > info.fordblks ? info.arena - info.fordblks : 0;
    info.keepcost = s.top_bytes;                    /* what malloc_trim could give back */
    return info;
}

HMM_EXPORT struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 info = {0};
    if (call_enter(CALL_MALLINFO2)) {
        info = do_mallinfo2();
        call_leave();
    }
    return info;
}

static int clamp_int(size_t n) { return n > (size_t)0x7fffffff ? 0x7fffffff : (int)n; }

HMM_EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo info = {0};
    if (!call_enter(CALL_MALLINFO))
        return info;
    struct mallinfo2 wide = do_mallinfo2();
    call_leave();
    info.arena = clamp_int(wide.arena);
    info.ordblks = clamp_int(wide.ordblks);
    info.smblks = clamp_int(wide.smblks);
    info.hblks = clamp_int(wide.hblks);
    info.hblkhd = clamp_int(wide.hblkhd);
    info.usmblks = clamp_int(wide.usmblks);
    info.fsmblks = clamp_int(wide.fsmblks);
    info.uordblks = clamp_int(wide.uordblks);
    info.fordblks = clamp_int(wide.fordblks);
    info.keepcost = clamp_int(wide.keepcost);
    return info;
}

static void note_policy(hmm_heap *h, void *ctx)
{
    *(const char **)ctx = hmm_heap_policy(h);
}

HMM_EXPORT void malloc_stats(void)
{
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    if (call_enter(CALL_MALLOC_STATS)) {
        struct hmm_stats s;
        const char *policy = "given up";
        process_heap_stats_with(&s, note_policy, &policy);
        call_leave(); /* before printing: a handler may allocate while write blocks */
        report_stats(&s, policy, process_heap_check_level(), STDERR_FILENO);
    }
    pthread_setcancelstate(cancel_state, NULL);
}

HMM_EXPORT int malloc_trim(size_t pad)
{
    if (!call_enter(CALL_MALLOC_TRIM))
        return 0;
    int released = 0;
    hmm_heap *h = process_heap_lock();
    if (h) {
        h->call = CALL_MALLOC_TRIM;
        depot_drain(h); /* the batches the threads gave away pin memory too */
        released = hmm_heap_trim(h, pad);
        process_heap_unlock();
    }
    call_leave();
    return released;
}

/* ---- mallopt --------------------------------------------------------------- */

/* Apply one parameter to the heap: 1 if honoured, 0 if not. */
static int set_parameter(hmm_heap *h, int param, int value)
{
    switch (param) {
    case M_MMAP_THRESHOLD:
        /* Any value, as glibc 2.36 takes it: 0 maps every block, a negative
         * one reads as huge and maps none. */
        h->mmap_threshold = (size_t)(long)value;
        h->thresholds_fixed = 1;
        return 1;
    case M_TRIM_THRESHOLD:
        h->trim_threshold = (size_t)(long)value; /* -1: never trim, as in glibc */
        h->thresholds_fixed = 1;
        return 1;
    case M_TOP_PAD:
        h->top_pad = (size_t)(long)value;
        h->thresholds_fixed = 1;
        return 1;
    case M_MMAP_MAX:
        h->mmap_max = value < 0 ? 0 : (size_t)value; /* 0: no block gets a mapping */
        return 1;
    case M_PERTURB:
        h->perturb = value & 0xff;
        if (h->perturb) /* the thread caches hand blocks out unfilled */
            cache_stop_all(h);
        return 1;
    default:
        /* M_MXFAST, M_CHECK_ACTION, M_ARENA_TEST, M_ARENA_MAX and anything
         * unknown: nothing in HMM to set. */
        return 0;
    }
}

HMM_EXPORT int mallopt(int param, int value)
{
    if (!call_enter(CALL_MALLOPT))
        return 0;
    int honoured = 0;
    hmm_heap *h = process_heap_lock();
    if (h) {
        honoured = set_parameter(h, param, value);
        process_heap_unlock();
    }
    call_leave();
    return honoured;
}

/* ---- malloc_info ------------------------------------------------------------ */

/* Free blocks by size, in power-of-two ranges: glibc lists its bins. */
#define INFO_RANGES 48

typedef struct info_ranges {
    uint64_t count[INFO_RANGES];
    uint64_t total[INFO_RANGES];
} info_ranges;

static unsigned range_of(size_t size)
{
    unsigned r = (unsigned)(63 - __builtin_clzll((unsigned long long)size)); /* size >= 32 */
    return r < INFO_RANGES ? r : INFO_RANGES - 1;
}

static int count_in_range(hmm_block *b, void *ctx)
{
    info_ranges *ranges = ctx;
    unsigned r = range_of(block_size(b));
    ranges->count[r]++;
    ranges->total[r] += block_size(b);
    return 0;
}

/* The totals glibc gives per arena and for the whole: HMM's "fast bins" are
 * its thread caches, the rest its free blocks; the whole adds the mapped
 * blocks. */
static void print_totals(FILE *fp, const struct hmm_stats *s, int whole)
{
    fprintf(fp, "<total type=\"fast\" count=\"%llu\" size=\"%llu\"/>\n",
            (unsigned long long)s->cached_blocks, (unsigned long long)s->cached_bytes);
    fprintf(fp, "<total type=\"rest\" count=\"%llu\" size=\"%llu\"/>\n",
            (unsigned long long)s->free_blocks, (unsigned long long)s->free_bytes);
    if (whole)
        fprintf(fp, "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n",
                (unsigned long long)s->mapped_blocks, (unsigned long long)s->mapped_bytes);
    fprintf(fp,
            "<system type=\"current\" size=\"%llu\"/>\n"
            "<system type=\"max\" size=\"%llu\"/>\n"
            "<aspace type=\"total\" size=\"%llu\"/>\n"
            "<aspace type=\"mprotect\" size=\"%llu\"/>\n",
            (unsigned long long)s->heap_size, (unsigned long long)s->peak_heap_size,
            (unsigned long long)s->heap_size, (unsigned long long)s->heap_size);
}

static void count_ranges(hmm_heap *h, void *ctx)
{
    placement_each(&h->placement, count_in_range, ctx);
    if (h->top)
        count_in_range(h->top, ctx);
}

HMM_EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0)
        return EINVAL; /* as glibc's: the error itself, errno untouched */
    info_ranges ranges;
    memset(&ranges, 0, sizeof ranges);
    struct hmm_stats s;
    memset(&s, 0, sizeof s);
    if (call_enter(CALL_MALLOC_INFO)) {
        process_heap_stats_with(&s, count_ranges, &ranges);
        call_leave();
    }

    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    fputs("<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", fp);
    for (unsigned r = 0; r < INFO_RANGES; r++)
        if (ranges.count[r])
            fprintf(fp, "  <size from=\"%llu\" to=\"%llu\" total=\"%llu\" count=\"%llu\"/>\n",
                    1ull << r, (2ull << r) - 1, (unsigned long long)ranges.total[r],
                    (unsigned long long)ranges.count[r]);
    fputs("</sizes>\n", fp);
    print_totals(fp, &s, 0);
    fputs("</heap>\n", fp);
    print_totals(fp, &s, 1);
    fputs("</malloc>\n", fp);
    pthread_setcancelstate(cancel_state, NULL);
    return 0;
}
