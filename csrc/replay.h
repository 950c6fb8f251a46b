/*
 * replay.h - a recorded program's calls, fed to a simulated heap (the core,
 * under any placement policy), in C: ten million calls are a second, where
 * one Python call per event would be a minute.
 *
 * hmm.trace (Python) reads the trace and pairs every free with the call
 * that allocated its block (trace_read.h); this loop then needs no address
 * map of its own: block[i] is what the simulated heap returned for call i,
 * and a free of the block call j allocated frees block[j].  The bytes in
 * use are the sizes asked for, as the program saw them.
 */
#ifndef HMM_REPLAY_H
#define HMM_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct hmm_heap; /* hmm.h */

/* HMM_BINDING_BEGIN: from here to HMM_BINDING_END, what cffi reads (see
 * hmm.h's note: declarations and integer #defines only). */

/* The calls, as hmm.trace holds them: columns of one entry per call. */
typedef struct hmm_replay_calls {
    uint64_t n;
    const uint8_t *tag;        /* trace_format.h's call tags */
    const uint64_t *size;      /* bytes asked for (calloc: nmemb * size) */
    const uint64_t *alignment;
    const uint64_t *ret;       /* what the call returned: 0 when it failed (or freed) */
    const int64_t *frees;      /* hmm_trace_pair's: the call whose block this one frees, or -1 */
    const uint64_t *time_ms;   /* when each call was made, in ms (the program's clock), or NULL:
                                * the heap's trim delay then runs on the program's time */
} hmm_replay_calls;

/* What a replay did, added up as it goes (start it zeroed). */
typedef struct hmm_replay_result {
    uint64_t calls;            /* replayed */
    uint64_t allocations;      /* calls that asked for a block */
    uint64_t failed;           /* of those, refused: the simulated heap was full */
    uint64_t in_use;           /* bytes asked for, of the blocks live now */
    uint64_t peak_in_use;      /* the most, ... */
    uint64_t peak_in_use_call; /* ... after this call */
    uint64_t peak_heap_size;   /* the heap's most bytes, ... */
    uint64_t peak_heap_call;   /* ... after this call */
    uint64_t peak_footprint;   /* the most bytes of heap and mappings together, ... */
    uint64_t peak_footprint_call; /* ... after this call: of the calls after which it was that
                                   * big, the one with the most bytes in use (the heap is
                                   * fullest there; it grows in steps, reached well before) */
    uint64_t in_use_at_peak_footprint;
} hmm_replay_result;

/*
 * Replay calls [from, to) on `heap`, a simulated one (hmm_heap_create_
 * simulated) that has seen exactly calls [0, from) of the same trace (or
 * an empty one, when `from` is where the process exec'ed).  block[] has an
 * entry per call: the simulated address of the block call i returned, while
 * it is live (0: none, or freed), written here for the calls replayed and
 * read for the blocks they free.  placed[], if not NULL, gets the address
 * each call's block was given, and keeps it; heap_size[], if not NULL, the
 * heap's size after each call (to compare with the trace's HEAP records,
 * and to draw).  Under first and next fit the run asks an index of their
 * list where a walk would stop (list_index.h): the same blocks, faster.
 * Returns `to`.
 */
uint64_t hmm_replay(struct hmm_heap *heap, const hmm_replay_calls *calls, uint64_t from,
                    uint64_t to, uint64_t *block, uint64_t *placed, uint64_t *heap_size,
                    hmm_replay_result *out);

/*
 * The heap's blocks below address `below` (the buffer's half that stands
 * in for mmap is above), in address order, into arrays of `cap` entries:
 * payload address, size (header included) and 1 for a block in use.
 * Returns how many there are (more than cap: the rest were not written),
 * so that Python reads a heap of a million blocks in milliseconds.
 */
uint64_t hmm_replay_blocks(const struct hmm_heap *heap, uint64_t below, uint64_t *address,
                           uint64_t *size, uint8_t *used, uint64_t cap);

/*
 * Which free blocks the placement policy looks at: from now on, each call
 * the replay makes records the blocks its finds looked at into seen[]
 * (payload address and size, two words a block, at most `cap` blocks), and
 * hmm_replay_watched() says how many there were in the last call replayed
 * (more than cap: the rest were not kept).  seen NULL stops watching.
 * While watching, first and next fit walk their list, to name its blocks.
 */
void hmm_replay_watch(struct hmm_heap *heap, uint64_t *seen, uint32_t cap);
uint32_t hmm_replay_watched(const struct hmm_heap *heap);

/*
 * Checkpoints, for going back in a replay without replaying from the start:
 * a simulated heap (hmm_heap_create_simulated_with_maps) keeps all of its
 * state in its buffer, from its control block up to the break, and its
 * mappings at the buffer's end.  hmm_replay_state_size() says how many
 * bytes that is now, hmm_replay_state_save() copies it out (to `out`, that
 * many bytes), and hmm_replay_state_restore() puts a saved state back into
 * the same heap's buffer: the heap is then exactly as it was.
 */
uint64_t hmm_replay_state_size(const struct hmm_heap *heap);
void hmm_replay_state_save(const struct hmm_heap *heap, void *out);
void hmm_replay_state_restore(struct hmm_heap *heap, const void *saved);

/* HMM_BINDING_END */

#endif /* HMM_REPLAY_H */
