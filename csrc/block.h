/*
 * block.h - the block layout, in one place.
 *
 * The heap is a sequence of blocks laid end to end inside a segment.  Each
 * block starts with a 16-byte header; what the caller gets is the address
 * just past it, so with 16-aligned blocks every pointer is 16-aligned.
 *
 *        block ->  +-----------------------------------------------+
 *                  | prev_size: size of the previous block,        |
 *                  |   valid only while that block is free         |
 *                  |   (its footer, the "boundary tag")            |
 *                  +-----------------------------------------------+
 *                  | size | PREV_IN_USE | IN_USE                   |
 *  payload ->      +-----------------------------------------------+
 *                  | in use: the caller's bytes ...                |
 *                  | free:   next_free, prev_free (free-list links)|
 *                  |         ... unused ...                        |
 *   next block ->  +-----------------------------------------------+
 *                  | prev_size: = size when this block is free,    |
 *                  |   else the caller's last 8 bytes              |
 *                  +-----------------------------------------------+
 *                  | next block's size | flags                     |
 *                  +-----------------------------------------------+
 *
 * Why this shape (it is dlmalloc's, and glibc's):
 *  - An in-use block costs 8 bytes: its footer is not needed while it is in
 *    use, so the next block's prev_size word is lent to the caller.  Usable
 *    size is therefore size - 8.
 *  - A free block keeps its size at both ends.  Freeing looks left through
 *    prev_size (only when PREV_IN_USE is clear) and right through the next
 *    header, so merging with either neighbour is O(1).
 *  - The smallest block is 32 bytes: header (16) + two list links (16); its
 *    footer lives in the next block's prev_size word.
 *
 * A large block (HMM_MAPPED) lives alone in a mapping of its own: its
 * prev_size word holds the distance from the mapping's start to the block,
 * there is no next block, and all of it but the header is usable.
 *
 * Sizes are multiples of 16, so the low 4 bits of the size word hold flags.
 * Each segment ends with a 16-byte end marker: a block header whose size is
 * 0 and whose IN_USE bit is set, so merging never runs off the segment.
 *
 * The size word is sealed: its top 16 bits are a check of the other 48 (but
 * PREV_IN_USE) and of the header's own address, keyed by the process's
 * secret:
 *
 *   bits:   63 .. 48 | 47 .. 4 |    3    |   2    |      1      |   0
 *           check    |  size   | GUARDED | MAPPED | PREV_IN_USE | IN_USE
 *                                (free: OWN_SIZE)
 *
 * An overflow from the previous block, even one NUL byte, or a pointer into
 * the middle of a block, gives a header whose check does not match (the
 * chance of a match by accident is 1 in 65536), so free() can tell a real
 * block from anything else in O(1).  PREV_IN_USE is left out so that a
 * neighbour's change costs one bit flip, not a new seal; a PREV_IN_USE
 * cleared by a stray write is caught anyway, when free() finds no sealed
 * free block of the footer's size before the block.  Blocks are therefore
 * smaller than 2^48 bytes, which no x86-64 address space can exceed anyway.
 *
 * Free-list links (next_free, prev_free) are sealed too, the way glibc's
 * "safe-linking" does it: stored XORed with their own address (shifted, so
 * that the random bits of the address count) and with the secret.  An
 * overflow or a write after free that overwrites a link turns it into a
 * random, almost surely misaligned, address, which the lists check before
 * following it, instead of an address of the writer's choosing.
 */
#ifndef HMM_BLOCK_H
#define HMM_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#define HMM_ALIGNMENT 16u                 /* alignof(max_align_t) on x86-64 */
#define HMM_HEADER_SIZE 16u               /* prev_size + size words */
#define HMM_OVERHEAD 8u                   /* what an in-use block costs */
#define HMM_MIN_BLOCK 32u                 /* header + two free-list links */
#define HMM_END_MARKER_SIZE HMM_HEADER_SIZE

#define HMM_IN_USE 0x1u
#define HMM_PREV_IN_USE 0x2u
#define HMM_MAPPED 0x4u     /* a large block with a mapping of its own */
#define HMM_GUARDED 0x8u    /* check mode: a canary follows the bytes asked for */
/* On a free block's header, GUARDED's bit means something else (no free
 * block is guarded): the header still holds the size of the block the
 * program freed at this address, as no merge has grown it since.  A double
 * free can then name that size; without it, the memory is part of a larger
 * free block.  Only release_block sets it; every other write of a free
 * header (a merge, a trim, a split's tail) drops it, which errs towards
 * "part of a free block". */
#define HMM_OWN_SIZE HMM_GUARDED
#define HMM_FLAG_MASK 0xfu

#define HMM_CHECK_SHIFT 48
#define HMM_FIELD_MASK (((size_t)1 << HMM_CHECK_SHIFT) - 1) /* size and flags */
#define HMM_SIZE_MASK (HMM_FIELD_MASK & ~(size_t)HMM_FLAG_MASK)
#define HMM_SEALED_MASK (HMM_FIELD_MASK & ~(size_t)HMM_PREV_IN_USE) /* what the seal covers */

/* The process's secret: keys the header checks and the link sealing.  Set
 * once, before the first block is written (heap.c), never changed after;
 * always odd. */
extern uintptr_t hmm_secret __attribute__((visibility("hidden")));

typedef struct hmm_block {
    size_t prev_size;               /* footer of the previous block, if free */
    size_t size_flags;              /* check | size | flags, see above */
    struct hmm_block *next_free;    /* free blocks only: the free list */
    struct hmm_block *prev_free;
} hmm_block;

/* Largest request we accept: a block's size has 48 bits (see above), and
 * the header and alignment must still fit without wrapping.  Larger requests
 * (PTRDIFF_MAX and beyond included) fail as out of memory. */
#define HMM_MAX_REQUEST (((size_t)1 << HMM_CHECK_SHIFT) - 4 * HMM_ALIGNMENT - HMM_MIN_BLOCK)

static inline size_t align_up(size_t n, size_t alignment)
{
    return (n + alignment - 1) & ~(alignment - 1);
}

/* The block size that serves a request of `request` bytes.  The caller has
 * already rejected requests above HMM_MAX_REQUEST. */
static inline size_t block_size_for(size_t request)
{
    size_t size = align_up(request + HMM_OVERHEAD, HMM_ALIGNMENT);
    return size < HMM_MIN_BLOCK ? HMM_MIN_BLOCK : size;
}

/* The check bits for a header at b holding `fields` (size and flags;
 * PREV_IN_USE, if there, does not count). */
static inline size_t header_check(const hmm_block *b, size_t fields)
{
    /* A multiply's top bits depend on every bit below them; multiplying
     * by the secret (odd) keys the check in one instruction. */
    return (((uintptr_t)b ^ (fields & HMM_SEALED_MASK)) * hmm_secret) & ~HMM_FIELD_MASK;
}

/* Zero when b's header is sealed right; works on a copy of the word, so
 * that a header read once is checked and used as the same value. */
static inline size_t header_fault(const hmm_block *b, size_t word)
{
    return (word ^ header_check(b, word)) & ~HMM_FIELD_MASK;
}
static inline int block_header_ok(const hmm_block *b) { return header_fault(b, b->size_flags) == 0; }

/* Write b's size word: `fields` is size | flags. */
static inline void block_write(hmm_block *b, size_t fields)
{
    b->size_flags = fields | header_check(b, fields);
}

static inline size_t block_size(const hmm_block *b) { return b->size_flags & HMM_SIZE_MASK; }
static inline int block_in_use(const hmm_block *b) { return (b->size_flags & HMM_IN_USE) != 0; }
static inline int block_prev_in_use(const hmm_block *b) { return (b->size_flags & HMM_PREV_IN_USE) != 0; }
static inline int block_is_end(const hmm_block *b) { return block_size(b) == 0; }

static inline void *block_payload(hmm_block *b) { return (char *)b + HMM_HEADER_SIZE; }
static inline hmm_block *block_of(const void *payload) { return (hmm_block *)((char *)payload - HMM_HEADER_SIZE); }
static inline int block_mapped(const hmm_block *b) { return (b->size_flags & HMM_MAPPED) != 0; }
static inline size_t block_usable(const hmm_block *b)
{
    return block_size(b) - (block_mapped(b) ? HMM_HEADER_SIZE : HMM_OVERHEAD);
}

static inline hmm_block *block_next(const hmm_block *b) { return (hmm_block *)((char *)b + block_size(b)); }
/* Only meaningful when !block_prev_in_use(b). */
static inline hmm_block *block_prev(const hmm_block *b) { return (hmm_block *)((char *)b - b->prev_size); }

/* Write a block's header, keeping its PREV_IN_USE bit (and nothing else:
 * not GUARDED, nor OWN_SIZE, which the caller adds when it holds). */
static inline void block_set(hmm_block *b, size_t size, int in_use)
{
    block_write(b, size | (b->size_flags & HMM_PREV_IN_USE) | (in_use ? HMM_IN_USE : 0));
}

/* Set or clear b's PREV_IN_USE bit (outside the seal: a header an overflow
 * has hit stays as broken as it was). */
static inline void block_set_prev_in_use(hmm_block *b, int prev_in_use)
{
    if (prev_in_use)
        b->size_flags |= HMM_PREV_IN_USE;
    else
        b->size_flags &= ~(size_t)HMM_PREV_IN_USE;
}

/* Mark b free or in use, keeping the next block's PREV_IN_USE bit and b's
 * footer (next block's prev_size) in step. */
static inline void block_mark(hmm_block *b, size_t size, int in_use)
{
    block_set(b, size, in_use);
    hmm_block *next = block_next(b);
    block_set_prev_in_use(next, in_use);
    if (!in_use)
        next->prev_size = size;
}

/* Mark b free as block_mark(b, size, 0) does, with OWN_SIZE when b is the
 * block the program freed, at the size it had. */
static inline void block_mark_free(hmm_block *b, size_t size, int own_size)
{
    block_write(b, size | (b->size_flags & HMM_PREV_IN_USE) | (own_size ? HMM_OWN_SIZE : 0));
    hmm_block *next = block_next(b);
    block_set_prev_in_use(next, 0);
    next->prev_size = size;
}

/* ---- The thread caches' mark ------------------------------------------- */

/* What a block parked in a thread cache holds in its second payload word
 * (thread_cache.h): the caches' secret XORed with the block's address, so
 * that bytes copied out of a parked block into another block (a read after
 * free, no fault of the other block's owner) do not mark that one too. */
static inline uintptr_t parked_mark(uint64_t key, const hmm_block *b)
{
    return (uintptr_t)key ^ (uintptr_t)b;
}
static inline int block_marked_parked(const hmm_block *b, uint64_t key)
{
    return (uintptr_t)b->prev_free == parked_mark(key, b);
}

/* ---- Sealed links ------------------------------------------------------ */

/* The value stored in *field for the link `to` (and back: the same XOR). */
static inline hmm_block *link_seal(hmm_block *const *field, const hmm_block *to)
{
    return (hmm_block *)((uintptr_t)to ^ ((uintptr_t)field >> 12) ^ hmm_secret);
}

/* A revealed link that cannot be a block: misaligned. */
static inline int link_misaligned(const hmm_block *to)
{
    return ((uintptr_t)to & (HMM_ALIGNMENT - 1)) != 0;
}

#endif /* HMM_BLOCK_H */
