/*
 * trace.h - the recorder of libhmm-trace.so (the format: trace_format.h).
 *
 * libhmm-trace.so is libhmm.so built with HMM_TRACING: the same allocator,
 * whose libc names (api_name.h) trace_api.c wraps, one record per call:
 *
 *     void *malloc(size_t size)
 *     {
 *         trace_call c;
 *         if (!trace_begin(&c, TRACE_MALLOC))
 *             return untraced_malloc(size);     tracing off, or re-entered
 *         trace_size(&c, size);
 *         void *p = untraced_malloc(size);
 *         trace_ptr(&c, p);
 *         trace_end(&c);
 *         return p;
 *     }
 *
 * libhmm.so has none of this: without tracing not one instruction is added.
 *
 * How the recorder works:
 *  - One order for all threads: trace_begin takes the tracer's lock and
 *    trace_end gives it back, so the call itself runs under it.  A block
 *    is then always recorded as freed after the call that returned it,
 *    however threads hand blocks to each other, and the n-th record is
 *    call n.  It serialises a multi-threaded program's allocator calls
 *    while tracing, as heaptrack's lock does; while the process has one
 *    thread no lock is needed (none can start inside a call).
 *  - A call that returns a block gets its stack (trace_unwind.h: HMM's own
 *    cached DWARF unwinder, walking from the libc name's frame), taken
 *    under the lock, whose table of code addresses it shares; frees get
 *    none, as in heaptrack's and memray's traces.  A stack is stored once:
 *    a table of the stacks seen gives each an id, and its record is
 *    written before its first use.
 *  - Records go straight into the file through a shared mapping (windows
 *    of 64 KiB growing to 8 MiB, their blocks reserved with posix_fallocate
 *    first, so that a full disk is an error and not a SIGBUS), and the
 *    header's length is updated after each one: there is no buffer to
 *    flush, so a crash, an abort on a misuse or a kill loses nothing
 *    written, and nothing depends on a signal handler.  At exit the file is
 *    cut to its length and later calls are written with pwrite.
 *  - Calls before the library's constructor (ld.so and libc allocate while
 *    the program loads) go to a static buffer, copied to the file when it
 *    opens; they have no stack (the unwinder is not loaded yet).
 *  - The tracer's own memory (the mapping, its tables, and whatever the
 *    unwinder allocates) never comes from the heap: the thread is marked
 *    as inside the allocator (CALL_TRACER) while the tracer works, so any
 *    allocation it causes is served by the reserve (reserve.h), and the
 *    heap, its stats and the trace are the program's alone.
 *  - Calls the reserve serves (a signal handler's, the unwinder's) are not
 *    recorded: the heap never sees them either.  A call made from a signal
 *    handler that interrupted its thread inside a traced call is counted
 *    (TRACE_LOST), not recorded: its record would come before the
 *    interrupted call's, out of order.  Meanwhile, while a thread takes or
 *    gives back the lock, or writes a record, such a call sees the mark
 *    (`writing`) and never waits for the lock its own thread holds.
 *  - Forks: the child writes a file of its own (%p, or FILE.<pid> when the
 *    path has no %p); an exec'ed program finds its process's file by the
 *    pid and start time in the header and appends to it.
 */
#ifndef HMM_TRACE_H
#define HMM_TRACE_H

#include "trace_format.h"

#include <stdint.h>

/* The kinds of a call's fields, as trace_format.h encodes them. */
enum { FIELD_SIZE = 1, FIELD_PTR = 2, FIELD_INT = 3 };
#define TRACE_FIELDS_MAX 5

typedef struct trace_call {
    uint64_t tsc;                     /* when the call began */
    uint64_t field[TRACE_FIELDS_MAX]; /* arguments, then results */
    uint8_t kind[TRACE_FIELDS_MAX];
    uint8_t n;
    uint8_t tag;
    uint8_t locked;                   /* it took the tracer's lock */
    uint32_t stack;                   /* its stack's id (trace.c, take_stack), or 0 */
    struct trace_call *outer;         /* the call this one is inside, on this thread */
    const void *frame;                /* the libc name's frame: its stack starts there */
    /* The walk take_stack files: */
    int frames;                       /* frames ... */
    int same_as_last;                 /* ... the thread's last ones again ... */
    const uintptr_t *ip;              /* ... here */
} trace_call;

/* Is tracing on?  One load on the way into every call. */
extern int trace_on __attribute__((visibility("hidden")));

/* trace_begin's slower ways, and its common one (trace_hot.h). */
int trace_begin_slow(trace_call *c, enum trace_tag tag, const void *frame);

static inline void trace_field(trace_call *c, int kind, uint64_t value)
{
    c->kind[c->n] = (uint8_t)kind;
    c->field[c->n++] = value;
}
static inline void trace_size(trace_call *c, uint64_t n) { trace_field(c, FIELD_SIZE, n); }
static inline void trace_ptr(trace_call *c, const void *p) { trace_field(c, FIELD_PTR, (uintptr_t)p); }
static inline void trace_int(trace_call *c, int64_t n) { trace_field(c, FIELD_INT, (uint64_t)n); }

/* Write the call's record and give the tracer's lock back; errno is kept. */
void trace_end(trace_call *c);
/* The same for a call of one size (trace_size) that returned `block`, and
 * for a free of one pointer (trace_ptr): trace_hot.h's trace_end_block and
 * trace_end_free, when they cannot take the common way. */
void trace_end_block_slow(trace_call *c, const void *block);
void trace_end_free_slow(trace_call *c);
/* The call wrote nothing the trace should show (the reserve served it):
 * no record, and the lock back. */
void trace_drop(trace_call *c);

/* The library's constructor and destructor (trace.c). */
void trace_start(void);
/* dlclose unloaded an object (trace_unwind.c passes it on). */
void trace_code_unloaded(void);
/* fork.c's handlers call these first (prepare) and last (parent, child). */
void trace_fork_prepare(void);
void trace_fork_parent(void);
void trace_fork_child(void);

#endif /* HMM_TRACE_H */
