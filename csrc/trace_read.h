/*
 * trace_read.h - reading a trace file (trace_format.h) fast, for hmm.trace.
 *
 * A trace of ten million calls is some hundred megabytes of varints: read
 * in Python, byte by byte, that is minutes; here it is a fraction of a
 * second.  So C does the two things whose cost grows with the number of
 * calls, and Python (numpy) does everything else:
 *
 *  1. hmm_trace_read() turns the records into columns, one array per field
 *     (the time of each call, its thread, its pointers...), which Python
 *     owns and hands over empty.  Python calls it twice: once with no
 *     arrays, to learn how many calls, stacks and notes there are, then
 *     with arrays of that size.  Both passes check the same things, so they
 *     stop at the same byte.  The few records that describe the process
 *     (modules, clocks, an exec...) come back as "notes", their offsets in
 *     the file, for Python to read itself.
 *
 *  2. hmm_trace_pair() matches every block with the call that freed it,
 *     through a hash table of the live blocks that Python also owns.
 *
 * Nothing here allocates, and nothing trusts the file: every read is
 * bounded by the data's size, every write by the capacity the caller gave.
 * A file that is cut short or damaged gives the records before the damage
 * and the offset of the first bad record.
 */
#ifndef HMM_TRACE_READ_H
#define HMM_TRACE_READ_H

#include <stddef.h>
#include <stdint.h>

/* HMM_BINDING_BEGIN: from here to HMM_BINDING_END, what cffi reads (see
 * hmm.h's note: declarations and integer #defines only). */

/* What is wrong with a trace: the first problem found, with its offset. */
enum hmm_trace_error {
    HMM_TRACE_OK = 0,
    HMM_TRACE_NOT_A_TRACE,  /* too short for a header, or no magic */
    HMM_TRACE_BAD_VERSION,  /* a version this reader does not know */
    HMM_TRACE_BAD_HEADER,   /* a header size smaller than the header */
    HMM_TRACE_CUT_SHORT,    /* the file ends before the header's length */
    HMM_TRACE_CUT_RECORD,   /* a record runs past the end of the records */
    HMM_TRACE_BAD_TAG,      /* a tag that is no record's */
    HMM_TRACE_BAD_NUMBER,   /* a varint of more than 64 bits */
    HMM_TRACE_BAD_STACK,    /* a stack with id 0 or too many frames */
    HMM_TRACE_NO_ROOM,      /* the caller's arrays are smaller than pass 1 said */
};

/* The header, and what one pass over the records found. */
typedef struct hmm_trace_info {
    /* the header's fields (trace_format.h) */
    uint32_t version;
    uint32_t header_size;
    uint32_t depth;
    uint32_t pid;
    uint32_t ppid;
    uint64_t start_time;
    uint64_t tsc;
    uint64_t monotonic_ns;
    uint64_t realtime_ns;
    uint64_t length;
    /* the whole records read: calls, STACK records and their frames, and
     * notes (every record that is neither a call, a THREAD nor a STACK) */
    uint64_t calls;
    uint64_t stacks;
    uint64_t frames;
    uint64_t notes;
    /* the offset just past the last whole record */
    uint64_t end;
    /* the first problem, and the offset of the record (or header field)
     * where it is; HMM_TRACE_OK and 0 when there is none */
    int error;
    uint64_t error_offset;
} hmm_trace_info;

/*
 * Where the second pass puts what it reads: arrays that the caller owns,
 * each with room for the capacity of its kind (at least what the counting
 * pass found).
 *
 * Per call, in the order of the calls:
 *   time       rdtsc ticks, absolute (the header's counter plus the deltas)
 *   thread     the id of the THREAD record before it (0 before the first)
 *   tag        its trace_tag
 *   stack      its stack's number (below), 0 when it has none
 *   size       bytes asked for: calloc's and reallocarray's nmemb * size
 *              (UINT64_MAX when the product overflows), free_sized's size,
 *              malloc_trim's pad, mallopt's value (two's complement)
 *   alignment  memalign's, aligned_alloc's, posix_memalign's and
 *              free_aligned_sized's alignment; mallopt's param and
 *              malloc_info's options (two's complement)
 *   ptr        the pointer passed (free, realloc, malloc_usable_size...)
 *   ret        the pointer returned (or stored, by posix_memalign)
 *   result     posix_memalign's, malloc_trim's, mallopt's and malloc_info's
 *              int; malloc_usable_size's size (at most INT64_MAX)
 *
 * Stacks are numbered 1, 2, ... in the order of their STACK records, and
 * calls carry that number, not the file's id: after an exec the new
 * program may use the ids again.  The frames of stack k are
 * frames[stack_start[k] .. stack_start[k + 1]); stack 0 has none, so
 * stack_start has stack_capacity + 2 entries.
 *
 * Per note (the records a call's columns do not hold):
 *   note_tag      its trace_tag
 *   note_offset   where its tag is in the file
 *   note_call     how many calls came before it
 *   note_stack    how many STACK records came before it
 *   note_a, b     CLOCK: tsc, monotonic ns; EXEC: tsc; LOST: n; HEAP: size; 0 for the
 *                 rest, which Python reads from the file (paths, text)
 *
 * id_keys and id_values are the work space of the map from the file's
 * stack ids to stack numbers: id_capacity entries, a power of two at least
 * twice the number of stacks plus one; the contents need no setting.
 */
typedef struct hmm_trace_columns {
    uint64_t capacity;
    uint64_t *time;
    uint32_t *thread;
    uint8_t *tag;
    uint32_t *stack;
    uint64_t *size;
    uint64_t *alignment;
    uint64_t *ptr;
    uint64_t *ret;
    int64_t *result;

    uint64_t stack_capacity;
    uint64_t frame_capacity;
    uint64_t *stack_start;
    uint64_t *frames;
    uint64_t id_capacity;
    uint64_t *id_keys;
    uint32_t *id_values;

    uint64_t note_capacity;
    uint8_t *note_tag;
    uint64_t *note_offset;
    uint64_t *note_call;
    uint64_t *note_stack;
    uint64_t *note_a;
    uint64_t *note_b;
} hmm_trace_columns;

/*
 * Read the trace in data[0, size): fill `info` and, unless `out` is NULL
 * (the counting pass), the columns.  Returns info->error.  The records
 * end at the header's length, at the end of the data, or just before the
 * first bad record, whichever comes first; the header's fields are set
 * whenever the magic was found.
 */
int hmm_trace_read(const uint8_t *data, uint64_t size, hmm_trace_info *info,
                   hmm_trace_columns *out);

/* One line saying what an hmm_trace_error means. */
const char *hmm_trace_error_text(int error);

/* What a tag is: a call's name ("malloc", "free", "posix_memalign") or a
 * record's ("THREAD", "STACK"...), NULL for a byte that is no tag. */
const char *hmm_trace_tag_name(int tag);

/* What a call does to blocks, as bits. */
#define HMM_TRACE_CALL 1       /* the tag is a call's */
#define HMM_TRACE_ALLOCATES 2  /* a non-NULL ret is a new block */
#define HMM_TRACE_FREES 4      /* a non-NULL ptr is freed (see below) */
#define HMM_TRACE_RESIZES 8    /* realloc: frees ptr only when it did not fail */
int hmm_trace_tag_kind(int tag);

/*
 * The live blocks while pairing: an open-addressing table keyed by
 * address (0 marks an empty slot), which Python owns.  capacity is a power
 * of two; count is the number of live blocks.
 */
typedef struct hmm_trace_blocks {
    uint64_t capacity;
    uint64_t count;
    uint64_t *address;
    int64_t *call;
} hmm_trace_blocks;

/*
 * Pair the calls from `start` on with the blocks they free, `n` calls in
 * all, columns as hmm_trace_read filled them.  For each call i:
 *   freed_by[i]  the call that ended the block i returned: the free (or
 *                realloc) of it, or a later call that returned the same
 *                address with no free in between (its free was not
 *                recorded); -1 when nothing did (still live at the end, or
 *                when the program exec'ed)
 *   frees[i]     the call whose block i freed, -1 when none (NULL, a
 *                pointer that is no live block, a failed realloc)
 * A realloc that returns a block frees the old one and allocates the new
 * one, even in place; realloc(p, 0) that returns NULL frees p; a realloc
 * that fails (NULL for a size > 0) frees nothing.  `execs` lists, in
 * order, the call numbers before which the process exec'ed: there every
 * live block is gone.
 *
 * Returns n when done, or the call at which the table would be more than
 * half full: make a bigger one, hmm_trace_blocks_move() the blocks into it
 * and call again from there.
 */
uint64_t hmm_trace_pair(const hmm_trace_columns *calls, uint64_t n,
                        const uint64_t *execs, uint64_t exec_count,
                        uint64_t start, hmm_trace_blocks *live,
                        int64_t *freed_by, int64_t *frees);

/* Empty `to`, then put every block of `from` in it; returns 0, or -1 when
 * `to` is too small to hold them at most half full. */
int hmm_trace_blocks_move(const hmm_trace_blocks *from, hmm_trace_blocks *to);

/* HMM_BINDING_END */

#endif /* HMM_TRACE_READ_H */
