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
#include "api_name.h"
#include "arena.h"
#include "calls.h"
#include "depot.h"
#include "heap.h"
#include "options.h"
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


/* ---- Every heap's counters --------------------------------------------------- */

typedef struct stats_job {
    struct hmm_stats *out;
    void (*also)(hmm_heap *h, void *ctx);
    void *ctx;
} stats_job;

/* Under the process heap's lock: the thread caches' counters, which that
 * lock keeps still, then the caller's reading of the heap. */
static void add_cache_stats(hmm_heap *h, void *ctx)
{
    stats_job *job = ctx;
    cache_add_stats(job->out);
    if (job->also)
        job->also(h, job->ctx);
}

/* Add an arena's counters to the process heap's: sums, but for the
 * largest free block (the largest of all), the peaks (each heap's peak, so
 * an upper bound) and where the process heap lies (its own). */
static void add_arena_stats(hmm_heap *h, void *ctx)
{
    stats_job *job = ctx;
    struct hmm_stats s, *out = job->out;
    hmm_heap_stats(h, &s);
    uint64_t start = out->heap_start, end = out->heap_end, brk = out->heap_break;
    uint64_t largest = out->largest_free_block > s.largest_free_block ? out->largest_free_block : s.largest_free_block;
#define HMM_STATS_ADD(name, what) out->name += s.name;
    HMM_STATS_LIST(HMM_STATS_ADD)
#undef HMM_STATS_ADD
    out->heap_start = start;
    out->heap_end = end;
    out->heap_break = brk;
    out->largest_free_block = largest;
    out->arenas++;
    if (job->also)
        job->also(h, job->ctx);
}

/* The counters of every heap and every thread cache, with also(h, ctx)
 * called for each heap under its lock. */
static void heaps_stats_with(struct hmm_stats *out, void (*also)(hmm_heap *h, void *ctx), void *ctx)
{
    stats_job job = {out, also, ctx};
    process_heap_stats_with(out, add_cache_stats, &job);
    uint64_t reserve_calls = out->reserve_calls, reserve_bytes = out->reserve_bytes;
    arenas_each(add_arena_stats, &job);
    out->reserve_calls = reserve_calls; /* the process's, counted once */
    out->reserve_bytes = reserve_bytes;
}

static struct mallinfo2 do_mallinfo2(void)
{
    struct hmm_stats s;
    heaps_stats_with(&s, NULL, NULL);
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

HMM_EXPORT struct mallinfo2 HMM_API(mallinfo2)(void)
{
    struct mallinfo2 info = {0};
    if (call_enter(CALL_MALLINFO2)) {
        info = do_mallinfo2();
        call_leave();
    }
    return info;
}

static int clamp_int(size_t n) { return n > (size_t)0x7fffffff ? 0x7fffffff : (int)n; }

HMM_EXPORT struct mallinfo HMM_API(mallinfo)(void)
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

HMM_EXPORT void HMM_API(malloc_stats)(void)
{
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    if (call_enter(CALL_MALLOC_STATS)) {
        struct hmm_stats s;
        const char *policy = "given up";
        heaps_stats_with(&s, note_policy, &policy);
        call_leave(); /* before printing: a handler may allocate while write blocks */
        report_stats(&s, policy, process_heap_check_level(), STDERR_FILENO);
    }
    pthread_setcancelstate(cancel_state, NULL);
}

typedef struct trim_job {
    size_t pad;
    int released;
} trim_job;

static void trim_arena(hmm_heap *h, void *ctx)
{
    trim_job *job = ctx;
    heap_serving(h, CALL_MALLOC_TRIM);
    job->released |= hmm_heap_trim(h, job->pad);
}

HMM_EXPORT int HMM_API(malloc_trim)(size_t pad)
{
    if (!call_enter(CALL_MALLOC_TRIM))
        return 0;
    trim_job job = {pad, 0};
    hmm_heap *h = process_heap_lock();
    if (h) {
        heap_serving(h, CALL_MALLOC_TRIM);
        depot_drain(h); /* the batches the threads gave away pin memory too */
        job.released = hmm_heap_trim(h, pad);
        process_heap_unlock();
        arenas_each(trim_arena, &job);
    }
    call_leave();
    return job.released;
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
        if (h->perturb && !heap_is_arena(h)) /* the thread caches hand blocks out unfilled */
            cache_stop_all(h);
        return 1;
    case M_ARENA_MAX: /* glibc counts its main arena: the process heap here */
        if (value > 0)
            arenas_set_max((unsigned)value - 1);
        return 1;
    default:
        /* M_MXFAST, M_CHECK_ACTION, M_ARENA_TEST and anything unknown:
         * nothing in HMM to set. */
        return 0;
    }
}

typedef struct parameter_job {
    int param, value;
} parameter_job;

static void set_arena_parameter(hmm_heap *h, void *ctx)
{
    parameter_job *job = ctx;
    set_parameter(h, job->param, job->value);
}

HMM_EXPORT int HMM_API(mallopt)(int param, int value)
{
    if (!call_enter(CALL_MALLOPT))
        return 0;
    int honoured = 0;
    hmm_heap *h = process_heap_lock();
    if (h) {
        honoured = set_parameter(h, param, value);
        process_heap_unlock();
        if (honoured && param != M_MMAP_THRESHOLD && param != M_MMAP_MAX && param != M_ARENA_MAX) {
            parameter_job job = {param, value};
            arenas_each(set_arena_parameter, &job); /* the arenas trim and perturb alike */
        }
    }
    call_leave();
    return honoured;
}

/* ---- The exit report (HMM_STATS) ------------------------------------------- */

__attribute__((destructor)) static void report_at_exit(void)
{
    if (!option_value(OPTION_STATS))
        return;
    /* exit() called from a signal handler that interrupted the allocator
     * (a child forked there, say): the heap may be half-way through a
     * change, and the lock held by this very thread. */
    if (hmm_thread_cache.calls.in_call != CALL_NONE)
        return;
    /* Cancellation points (open) must not unwind a thread out of here, and
     * a signal handler's malloc meanwhile must not wait for the lock. */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    call_mark(CALL_EXIT);
    struct hmm_stats stats;
    const char *policy = "given up";
    heaps_stats_with(&stats, note_policy, &policy);
    call_leave();
    report_stats_as_configured(&stats, policy, process_heap_check_level());
    pthread_setcancelstate(cancel_state, NULL);
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

HMM_EXPORT int HMM_API(malloc_info)(int options, FILE *fp)
{
    if (options != 0)
        return EINVAL; /* as glibc's: the error itself, errno untouched */
    info_ranges ranges;
    memset(&ranges, 0, sizeof ranges);
    struct hmm_stats s;
    memset(&s, 0, sizeof s);
    if (call_enter(CALL_MALLOC_INFO)) {
        heaps_stats_with(&s, count_ranges, &ranges);
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
