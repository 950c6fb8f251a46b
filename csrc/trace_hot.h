/*
 * trace_hot.h - the recorder's state, and the common way through it,
 * inlined into each libc name of libhmm-trace.so (trace_api.c); trace.c
 * has the rest.
 *
 * A traced malloc/free pair costs what the tracer adds to each call, twice:
 * taking the order (the lock, or nothing while the process has one thread),
 * reading the clock, and writing a record of some eight bytes into the
 * mapped file.  The common case does that here, inline, with no call into
 * trace.c: an ordinary call of an ordinary thread, no stack to take (frees,
 * or stacks off), the record fitting in the window.  Anything else (a
 * stack, a new thread, calls lost, a full window, the lock held by another
 * thread, exit begun) takes trace.c's slower ways, which do it all.
 */
#ifndef HMM_TRACE_HOT_H
#define HMM_TRACE_HOT_H

#include "lock.h"
#include "process_heap.h"
#include "trace.h"

#include <stdint.h>
#include <sys/single_threaded.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#define TRACE_HIDDEN __attribute__((visibility("hidden")))

#define RECORD_MAX 1024      /* room made before a call's records */
#define NO_THREAD UINT32_MAX /* no thread id: the first call writes its THREAD record */
#define PATH_CAP 4096

enum trace_mode {
    MODE_EARLY,  /* before the constructor: records go to early[] */
    MODE_MAPPED, /* records go to the file through a window */
    MODE_DIRECT, /* after exit began: pwrite, record by record (window_end is 0) */
    MODE_OFF,    /* not tracing */
};

/* The file's header (trace_format.h). */
typedef struct trace_header {
    char magic[8];
    uint16_t version, header_size;
    uint32_t stack_depth;
    uint32_t pid, ppid;
    uint64_t proc_start;
    uint64_t tsc0, mono_ns0, real_ns0;
    uint64_t length;
} trace_header;
_Static_assert(sizeof(trace_header) == TRACE_HEADER_SIZE, "the header is 64 bytes");

/* The process's recorder: written under its lock. */
struct tracer {
    int lock;
    int mode;
    int fd;
    uint32_t depth;            /* frames per stack; 0: none */
    unsigned char *window;     /* the mapped part of the file ... */
    uint64_t window_start;     /* ... from this file offset ... */
    uint64_t window_end;       /* ... to this one */
    uint64_t pos;              /* file offset of the next record */
    trace_header *header;      /* mapped, or the early one */
    uint64_t last_tsc, last_ptr;
    uint32_t last_tid;         /* of the last call recorded; NO_THREAD before any */
    uint64_t lost;             /* calls not recorded since the last LOST record */
    uint64_t heap_size;        /* the process heap's size in the last HEAP record (0 before any) */
    unsigned long long modules_added; /* dlpi_adds when the modules were last written */
    char path[PATH_CAP];
};
extern struct tracer tr TRACE_HIDDEN;

/* A thread's part. */
struct trace_thread {
    uint32_t tid;
    uint32_t depth;           /* traced calls this thread is inside */
    uint8_t writing;          /* writing a record: a handler's call now is lost */
    uint8_t own;              /* the tracer's own work: calls go untraced */
    uint8_t fork_held;        /* this thread took the lock for fork() */
    uint32_t walks;           /* stacks this thread took */
    uint32_t last_stack;      /* the id of this thread's stack number ... */
    uint32_t last_stack_walk; /* ... this, or 0 */
    trace_call *pending;      /* the innermost call in progress */
};
extern __thread struct trace_thread me TRACE_HIDDEN __attribute__((tls_model("initial-exec")));

/* ---- Time and encoding (trace_format.h) --------------------------------- */

static inline uint64_t ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static inline unsigned char *put_varint(unsigned char *out, uint64_t v)
{
    if (__builtin_expect(v < 0x80, 1)) { /* a stack id, a small size, a free just after its malloc */
        *out = (unsigned char)v;
        return out + 1;
    }
    if (v < 0x4000) { /* most times between calls, most sizes */
        out[0] = (unsigned char)(v | 0x80);
        out[1] = (unsigned char)(v >> 7);
        return out + 2;
    }
    while (v >= 0x80) {
        *out++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *out++ = (unsigned char)v;
    return out;
}

static inline uint64_t zigzag(int64_t n)
{
    return ((uint64_t)n << 1) ^ (uint64_t)(n >> 63);
}

static inline unsigned char *put_ptr(unsigned char *out, uint64_t p)
{
    if (!p)
        return put_varint(out, 0);
    uint64_t delta = zigzag((int64_t)(p - tr.last_ptr));
    tr.last_ptr = p;
    return put_varint(out, delta + 1);
}

/* Calls that hand out a block get a stack; frees and questions do not
 * (as heaptrack and memray record them): the reports group blocks by where
 * they were allocated, and half the unwinding is saved.  A free HMM
 * reports as a misuse gets its stack then (trace.c, trace_misuse). */
static inline int allocates(enum trace_tag tag)
{
    switch (tag) {
    case TRACE_MALLOC: case TRACE_CALLOC: case TRACE_REALLOC: case TRACE_REALLOCARRAY:
    case TRACE_MEMALIGN: case TRACE_POSIX_MEMALIGN: case TRACE_ALIGNED_ALLOC:
    case TRACE_VALLOC: case TRACE_PVALLOC:
    case TRACE_HMM_ALLOC: case TRACE_HMM_REALLOC: case TRACE_HMM_CALLOC:
        return 1;
    default:
        return 0;
    }
}

/* ---- The common way ------------------------------------------------------ */

/* 1: record this call (the caller adds its fields, calls, adds its
 * results, and ends with trace_end...); 0: just call, untraced.  Inlined into the libc name it records, where
 * __builtin_frame_address gives that function a frame pointer: its stack
 * is walked from its caller (trace_unwind.h), not through the tracer. */
static inline __attribute__((always_inline)) int trace_begin(trace_call *c, enum trace_tag tag)
{
    const void *frame = __builtin_frame_address(0);
    if (!__builtin_expect(trace_on, 1))
        return 0;
    if (__builtin_expect((me.own | me.writing | me.depth) != 0 || !tr.header ||
                         (allocates(tag) && tr.depth), 0))
        return trace_begin_slow(c, tag, frame);
    /* While the process has one thread, no lock: no other thread can start
     * before this one leaves the call. */
    c->locked = !__libc_single_threaded;
    if (c->locked) {
        me.writing = 1; /* a signal handler's call meanwhile is lost, not stuck on our lock */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (!lock_try(&tr.lock)) {
            me.writing = 0;
            return trace_begin_slow(c, tag, frame);
        }
    }
    c->tag = (uint8_t)tag;
    c->n = 0;
    c->frames = 0;
    c->stack = 0;
    c->outer = NULL;
    c->frame = frame;
    me.depth = 1;
    me.pending = c;
    c->tsc = ticks();
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    me.writing = 0;
    return 1;
}

/* The thread leaves the call c.  Between the depth back to 0 and the lock
 * given back, a handler's call is lost, not stuck on the lock. */
static inline void trace_leave(trace_call *c)
{
    me.pending = c->outer;
    if (me.depth == 1 && c->locked) {
        me.writing = 1;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        me.depth = 0;
        lock_give(&tr.lock);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        me.writing = 0;
    } else {
        me.depth--;
    }
}

/* Can c's record go the common way: nothing to write before it, nothing
 * after it (the heap's size did not change), and room in the window?
 * Where it goes, or NULL. */
static inline unsigned char *record_here(const trace_call *c)
{
    if (__builtin_expect(tr.lost || me.tid != tr.last_tid || tr.heap_size != heap_size_published ||
                         tr.pos + RECORD_MAX > tr.window_end, 0))
        return NULL;
    me.writing = 1;
    unsigned char *out = tr.window + (tr.pos - tr.window_start);
    *out++ = c->tag;
    out = put_varint(out, c->tsc - tr.last_tsc);
    tr.last_tsc = c->tsc;
    return put_varint(out, c->stack); /* trace_begin_slow took it, if any */
}

static inline void record_done(unsigned char *end)
{
    tr.pos = (uint64_t)(end - tr.window) + tr.window_start;
    __atomic_store_n(&tr.header->length, tr.pos - TRACE_HEADER_SIZE, __ATOMIC_RELEASE);
    me.writing = 0;
}

/* The end of a call of one size (trace_size) that returned `block`. */
static inline __attribute__((always_inline)) void trace_end_block(trace_call *c, const void *block)
{
    unsigned char *out = record_here(c);
    if (!out) {
        trace_end_block_slow(c, block);
        return;
    }
    out = put_varint(out, c->field[0]);
    record_done(put_ptr(out, (uintptr_t)block));
    trace_leave(c);
}

/* The end of a free of one pointer (trace_ptr). */
static inline __attribute__((always_inline)) void trace_end_free(trace_call *c)
{
    unsigned char *out = record_here(c);
    if (!out) {
        trace_end_free_slow(c);
        return;
    }
    record_done(put_ptr(out, c->field[0]));
    trace_leave(c);
}

#endif /* HMM_TRACE_HOT_H */
