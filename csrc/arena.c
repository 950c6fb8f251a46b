/*
 * arena.c - more heaps, each with its own lock, for the medium and aligned
 * requests of threads that meet on the process heap's lock.
 *
 * Small requests never come here: the threads' caches and the depot serve
 * them without a shared lock, over the process heap.  Medium blocks (above
 * the caches' 1 KiB) and aligned ones are carved by a heap under its lock,
 * and with one heap two threads allocating such blocks take turns at it:
 * two threads of aligned allocations ran 2.1 to 2.9 times glibc's time,
 * with one core spinning while the other worked.  glibc gives such threads
 * arenas of their own, and so does HMM, the same way:
 *
 *   - a thread uses the process heap until it finds that heap's lock held
 *     by another thread on a medium or aligned request; from then on it has
 *     an arena (one that its threads have left, else a new one while there
 *     are fewer than 8 per core, else the next in turn), and keeps it until
 *     it exits.  A program with one thread, or threads that seldom meet,
 *     never makes one.
 *   - an arena is a heap of the same core, with the process heap's policy
 *     and trimming settings, over a fake break in ARENA_SPAN bytes of
 *     address space reserved for it (64 MiB, as glibc's arenas reserve):
 *     pages are touched only as its break moves up, and given back as it
 *     moves down (trimming, as on the process heap).
 *   - every block of an arena lies in its span, so free() finds the heap of
 *     a pointer by comparing it with the spans made (ARENA_MAX at most),
 *     which never change once made: no lock, O(1).  A pointer in no span belongs to the
 *     process heap, which checks it as before; one in a span, to that
 *     arena's heap, which checks it the same way.
 *   - an arena has no mapped blocks: requests from the mmap threshold up go
 *     to the process heap, and what does not fit an arena's span is served
 *     there too.
 *
 *   thread A ──small──> cache ─┐                     ┌─> process heap (break)
 *   thread B ──small──> cache ─┴─ depot ─────────────┤
 *   thread B ──medium, aligned──────────> arena 1 ───┘   (its own lock)
 *
 * Lock order: the process heap's lock, then an arena's; nothing here takes
 * the process heap's lock while it holds an arena's.  A misuse found in an
 * arena is reported and gives the whole heap up, as one found in the
 * process heap does (process_heap.h).
 */
#define _GNU_SOURCE
#include "arena.h"

#include "lock.h"
#include "process_heap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct hmm_arena {
    int lock __attribute__((aligned(64))); /* a line apart: its thread writes it on every call */
    hmm_heap heap;
    hmm_source source; /* a fake break over [base, base + ARENA_SPAN) */
    char *base, *brk;
    unsigned threads;  /* that have it: under making_lock */
} hmm_arena;

static hmm_arena arenas[ARENA_MAX];
/* Where each span starts, apart from the arenas, which their threads write
 * all the time: every free and realloc reads these. */
static char *arena_bases[ARENA_MAX] __attribute__((aligned(64)));
static unsigned arena_count;         /* made: read without a lock, so published last */
static unsigned arena_max;           /* under making_lock, once arena_max_set */
static int arena_max_set;            /* else ARENAS_PER_CORE per core, found at the first */
static unsigned arena_turn;          /* the next to hand out once all are made */
static int making_lock;              /* one thread makes an arena at a time */
static __thread hmm_arena *my_arena __attribute__((tls_model("initial-exec")));

static hmm_arena *arena_of_heap(const hmm_heap *h)
{
    return (hmm_arena *)((char *)h - offsetof(hmm_arena, heap));
}

int heap_is_arena(const hmm_heap *h)
{
    return (const char *)h >= (const char *)&arenas[0] && (const char *)h < (const char *)&arenas[ARENA_MAX];
}

/* ---- The fake break ---------------------------------------------------- */

static void *arena_move_break(hmm_source *self, intptr_t delta)
{
    hmm_arena *a = (hmm_arena *)((char *)self - offsetof(hmm_arena, source));
    char *old = a->brk;
    if (delta > 0 && (size_t)delta > (size_t)(a->base + ARENA_SPAN - old))
        return NULL;
    if (delta < 0) {
        if ((size_t)-delta > (size_t)(old - a->base))
            return NULL;
        /* The whole pages above the new break: their memory goes back. */
        size_t page = self->page_size;
        char *from = (char *)(((uintptr_t)(old + delta) + page - 1) & ~(uintptr_t)(page - 1));
        if (from < old)
            madvise(from, (size_t)(old - from), MADV_DONTNEED);
    }
    a->brk = old + delta;
    return old;
}

static void arena_discard(hmm_source *self, void *addr, size_t bytes)
{
    (void)self;
    madvise(addr, bytes, MADV_DONTNEED);
}

/* ---- Misuse ------------------------------------------------------------- */

static void arena_misuse(hmm_heap *h)
{
    process_heap_give_up(h->message); /* first: waiters wake to the news */
    lock_give(&arena_of_heap(h)->lock);
    abort();
}

/* ---- Making and choosing ------------------------------------------------ */

/* A new arena, or NULL when ARENA_MAX are made or the address space for
 * one cannot be had. */
static hmm_arena *arena_make(void)
{
    unsigned n = __atomic_load_n(&arena_count, __ATOMIC_ACQUIRE);
    if (!arena_max_set) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        arena_max = cores > 0 && cores < ARENA_MAX / ARENAS_PER_CORE ? (unsigned)cores * ARENAS_PER_CORE : ARENA_MAX;
        arena_max_set = 1;
    }
    if (n >= arena_max)
        return NULL;
    /* Reserved, not committed: MAP_NORESERVE pages cost nothing until
     * touched, and read as zeros (a bogus pointer in the span faults not). */
    void *span = mmap(NULL, ARENA_SPAN, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (span == MAP_FAILED)
        return NULL;
    hmm_arena *a = &arenas[n];
    a->base = a->brk = span;
    a->source = (hmm_source){
        .move_break = arena_move_break,
        .discard = arena_discard,
        .page_size = (size_t)sysconf(_SC_PAGESIZE),
    };
    heap_init(&a->heap, &a->source);
    a->heap.on_misuse = arena_misuse;
    process_heap_settings(&a->heap);
    a->heap.mmap_threshold = SIZE_MAX; /* its blocks stay in its span */
    a->heap.thresholds_fixed = 1;
    arena_bases[n] = span;
    __atomic_store_n(&arena_count, n + 1, __ATOMIC_RELEASE);
    return a;
}

/* This thread met another on the process heap's lock: its arena from now
 * on.  One that the threads it served have left first (its memory is
 * reused, not stranded), then a new one, then the next in turn. */
static hmm_arena *arena_choose(void)
{
    if (!lock_take(&making_lock))
        return NULL;
    unsigned n = __atomic_load_n(&arena_count, __ATOMIC_ACQUIRE);
    hmm_arena *a = NULL;
    for (unsigned i = 0; i < n && !a; i++)
        if (!arenas[i].threads)
            a = &arenas[i];
    if (!a)
        a = arena_make();
    if (!a && n)
        a = &arenas[arena_turn++ % n];
    if (a)
        a->threads++;
    lock_give(&making_lock);
    return a;
}

void arena_thread_exit(void)
{
    hmm_arena *a = my_arena;
    if (!a || !lock_take(&making_lock))
        return;
    a->threads--;
    my_arena = NULL;
    lock_give(&making_lock);
}

static hmm_heap *arena_lock(hmm_arena *a)
{
    if (!lock_take(&a->lock))
        return NULL;
    if (process_heap_given_up()) {
        lock_give(&a->lock);
        return NULL;
    }
    return &a->heap;
}

hmm_heap *heap_lock_for_request(size_t size, int may_move)
{
    hmm_arena *a = my_arena;
    if (a && size < process_heap_mmap_threshold())
        return arena_lock(a);
    if (a || !may_move)
        return process_heap_lock();
    int busy;
    hmm_heap *h = process_heap_lock_if_free(&busy);
    if (h || !busy)
        return h;
    a = arena_choose();
    if (!a)
        return process_heap_lock();
    my_arena = a;
    return size < process_heap_mmap_threshold() ? arena_lock(a) : process_heap_lock();
}

/* The arena whose span holds p, or NULL. */
static hmm_arena *arena_of(const void *p)
{
    unsigned n = __atomic_load_n(&arena_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if ((uintptr_t)p - (uintptr_t)arena_bases[i] < ARENA_SPAN)
            return &arenas[i];
    return NULL;
}

int arena_holds(const void *p)
{
    return arena_of(p) != NULL;
}

hmm_heap *heap_lock_for_pointer(const void *ptr)
{
    hmm_arena *a = arena_of(ptr);
    return a ? arena_lock(a) : process_heap_lock();
}

void heap_unlock(hmm_heap *h)
{
    if (heap_is_arena(h))
        lock_give(&arena_of_heap(h)->lock);
    else
        process_heap_unlock();
}

/* ---- Every arena ---------------------------------------------------------- */

void arenas_each(void (*apply)(hmm_heap *h, void *ctx), void *ctx)
{
    unsigned n = __atomic_load_n(&arena_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        hmm_heap *h = arena_lock(&arenas[i]);
        if (!h)
            return;
        apply(h, ctx);
        lock_give(&arenas[i].lock);
    }
}

void arenas_set_max(unsigned max)
{
    if (!lock_take(&making_lock))
        return;
    arena_max = max < ARENA_MAX ? max : ARENA_MAX;
    arena_max_set = 1;
    lock_give(&making_lock);
}

/* ---- fork --------------------------------------------------------------- */

static unsigned held_for_fork;

void arenas_fork_prepare(void)
{
    lock_take(&making_lock);
    held_for_fork = __atomic_load_n(&arena_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < held_for_fork; i++)
        lock_take(&arenas[i].lock);
}

void arenas_fork_parent(void)
{
    for (unsigned i = 0; i < held_for_fork; i++)
        lock_give(&arenas[i].lock);
    lock_give(&making_lock);
}

void arenas_fork_child(void)
{
    for (unsigned i = 0; i < held_for_fork; i++) {
        arenas[i].lock = 0; /* no other thread exists to wake */
        arenas[i].threads = &arenas[i] == my_arena; /* nor holds an arena */
    }
    making_lock = 0;
}
