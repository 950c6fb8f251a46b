/*
 * trace_format.h - the trace file that `hmm-run --trace` writes, in one
 * place: the recorder (trace.c) writes it, the reader (trace_read.c) and
 * hmm/trace.py read it.  The README's "Tracing a program" section has the
 * same description for people who write their own reader.
 *
 * A trace is one process's history: a 64-byte header, then records.  All
 * numbers are little-endian.
 *
 *   offset  size  field
 *        0     8  magic "HMMTRACE"
 *        8     2  version (1)
 *       10     2  header size (64)
 *       12     4  stack depth asked for (0: no stacks recorded)
 *       16     4  pid
 *       20     4  parent's pid
 *       24     8  the process's start time (field 22 of /proc/self/stat),
 *                 so that a program exec'ed by this one, which has the same
 *                 pid, knows the file is its process's and appends to it
 *       32     8  time stamp counter at the start (rdtsc)
 *       40     8  CLOCK_MONOTONIC at the start, nanoseconds
 *       48     8  CLOCK_REALTIME at the start, nanoseconds
 *       56     8  bytes of records written: the writer updates it after
 *                 every record, so it is right even after a crash or a
 *                 kill; bytes past it are not records
 *
 * Every record starts with a one-byte tag.  Below 0x80 it is a call of one
 * of the malloc names (the TRACE_* list below); from 0x80 up, a record that
 * describes the process (threads, stacks, libraries, clock).
 *
 * Numbers in records are unsigned LEB128 varints (7 bits a byte, low
 * first, the top bit set on every byte but the last).  Signed numbers are
 * zigzag-encoded first ((n << 1) ^ (n >> 63)).  A pointer is 0 for NULL,
 * else zigzag(p - q) + 1, where q is the last non-NULL pointer written in
 * any record before it (0 at the start): a free of the block just
 * allocated is then one byte, and neighbouring blocks a few.
 *
 * A call record:
 *   tag, time, stack, then the call's own fields:
 *     time   varint: rdtsc ticks since the previous call record (since the
 *            header's counter for the first); see TRACE_CLOCK
 *     stack  varint: the id of its call stack (a TRACE_STACK record
 *            before it), 0 when stacks are not recorded.  Only calls that
 *            return a block have one (as in heaptrack's and memray's
 *            traces): for the others it is 0, but for a call HMM reports
 *            as a misuse (a double free, say)
 *   The call's fields (size: varint; ptr, ret: pointers; int: zigzag):
 *     MALLOC, VALLOC, PVALLOC, HMM_ALLOC       size, ret
 *     CALLOC, HMM_CALLOC                       nmemb, size, ret
 *     REALLOC, HMM_REALLOC                     ptr, size, ret
 *     REALLOCARRAY                             ptr, nmemb, size, ret
 *     FREE, HMM_FREE                           ptr
 *     FREE_SIZED                               ptr, size
 *     FREE_ALIGNED_SIZED                       ptr, alignment, size
 *     MEMALIGN, ALIGNED_ALLOC                  alignment, size, ret
 *     POSIX_MEMALIGN                           alignment, size, ret (what it
 *                                              stored, or NULL), result: int
 *     MALLOC_USABLE_SIZE                       ptr, result: size
 *     MALLOC_TRIM                              pad: size, result: int
 *     MALLOPT                                  param: int, value: int, result: int
 *     MALLOC_INFO                              options: int, result: int
 *     MALLINFO, MALLINFO2, MALLOC_STATS        (nothing more)
 *   A failed allocation has ret NULL.  The calls are in the order they
 *   happened, across all the process's threads (the recorder serialises
 *   them): the n-th call record is call number n, and a block is always
 *   freed after the call that returned it.
 *
 * The other records:
 *   THREAD   tid: varint.  The calls that follow are this thread's (the
 *            first call of a trace is preceded by one).
 *   STACK    id: varint, n: varint, then n frames, each zigzag(ip - previous
 *            ip) (the first against 0): return addresses, innermost first,
 *            starting in the function that called the malloc name.  Ids
 *            count from 1; a stack is written once, before its first use.
 *   MODULE   load bias: varint, path length: varint, path bytes, segment
 *            count: varint, then per loaded segment its address in the file
 *            (p_vaddr) and size (p_memsz), varints.  A code address ip is in
 *            the module when bias + vaddr <= ip < bias + vaddr + memsz, at
 *            ip - bias in the file.  Written at the start for every object
 *            loaded, and for objects loaded later before the first stack
 *            that needs them.  The path may be empty (the vdso).
 *   CLOCK    tsc: varint, monotonic ns: varint.  A pair of readings to turn
 *            rdtsc ticks into time; written at the start, every few
 *            megabytes and at exit.  Between two pairs, interpolate.
 *   EXEC     tsc: varint, path length: varint, path bytes.  The process
 *            exec'ed this program, which goes on in the same file; blocks
 *            live before are gone.  What follows is read as a new trace
 *            would be: the next call's time counts from this tsc, pointers
 *            from 0 (q = 0), stack ids from 1 again, and the new program's
 *            MODULE records come next.
 *   LOST     n: varint.  n calls were not recorded: calls made from a
 *            signal handler that interrupted its thread inside a traced
 *            call (their records would come before the interrupted one's,
 *            out of order), or that the trace had no room for.
 *   MISUSE   length: varint, then the report's line (as printed on
 *            stderr, without the newline).  HMM found a misuse in the call
 *            record just before this one, and aborts the program next.
 *   FINISH   (nothing).  The program's exit has begun (the library's
 *            destructor ran); calls after it are still recorded.  A trace
 *            without one ended in a crash or a kill.
 *   HEAP     size: varint.  The process heap's size (hmm_stats' heap_size:
 *            the bytes of its segments, from their starts to the break)
 *            after the call record just before this one, written when it
 *            changed (a trace starts at 0).  In a process with one thread
 *            the call before is the one that grew or trimmed the heap; with
 *            more, it may be another thread's call of about the same time.
 *            A replay compares its own heap's size with this, call by call.
 */
#ifndef HMM_TRACE_FORMAT_H
#define HMM_TRACE_FORMAT_H

#define TRACE_MAGIC "HMMTRACE"
#define TRACE_VERSION 1
#define TRACE_HEADER_SIZE 64
#define TRACE_MAX_DEPTH 32 /* frames a stack may hold */

enum trace_tag {
    /* the calls */
    TRACE_MALLOC = 0x01,
    TRACE_FREE = 0x02,
    TRACE_CALLOC = 0x03,
    TRACE_REALLOC = 0x04,
    TRACE_REALLOCARRAY = 0x05,
    TRACE_MEMALIGN = 0x06,
    TRACE_POSIX_MEMALIGN = 0x07,
    TRACE_ALIGNED_ALLOC = 0x08,
    TRACE_VALLOC = 0x09,
    TRACE_PVALLOC = 0x0a,
    TRACE_MALLOC_USABLE_SIZE = 0x0b,
    TRACE_FREE_SIZED = 0x0c,
    TRACE_FREE_ALIGNED_SIZED = 0x0d,
    TRACE_MALLOC_TRIM = 0x0e,
    TRACE_MALLOPT = 0x0f,
    TRACE_MALLINFO = 0x10,
    TRACE_MALLINFO2 = 0x11,
    TRACE_MALLOC_STATS = 0x12,
    TRACE_MALLOC_INFO = 0x13,
    TRACE_HMM_ALLOC = 0x14,
    TRACE_HMM_FREE = 0x15,
    TRACE_HMM_REALLOC = 0x16,
    TRACE_HMM_CALLOC = 0x17,
    TRACE_CALLS_END, /* one past the last call tag */
    /* the process */
    TRACE_THREAD = 0x80,
    TRACE_STACK = 0x81,
    TRACE_MODULE = 0x82,
    TRACE_CLOCK = 0x83,
    TRACE_EXEC = 0x84,
    TRACE_LOST = 0x85,
    TRACE_MISUSE = 0x86,
    TRACE_FINISH = 0x87,
    TRACE_HEAP = 0x88,
};

#endif /* HMM_TRACE_FORMAT_H */
