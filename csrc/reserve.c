/*
 * reserve.c - the lock-free reserve; see reserve.h for why it exists.
 *
 * Chunks are mapped on demand, 1 MiB or what one block needs, and listed in
 * a fixed table so that a pointer can be recognised without a lock.  Every
 * update is one atomic operation, so a call may be interrupted by a signal
 * whose handler allocates too, at any point:
 *  - a chunk's state is one word, the bump offset and the count of its live
 *    blocks: a block is carved by a compare-and-swap that moves the offset
 *    and counts one more; a call whose block does not fit maps a new chunk,
 *    carves its block at the start of it, and tries to make it current;
 *  - a free swaps the block's sealed header from in use to free and counts
 *    one less; the free that leaves a chunk with no live block moves its
 *    offset back to the start, in the same step, so that a handler that
 *    allocates and frees on every tick reuses the same bytes;
 *  - a chunk takes a table slot by an atomic add on the count, and is
 *    recognised once its bounds are stored there (a reader skips a slot
 *    still empty: nobody can hold a pointer into that chunk yet).
 */
#include "reserve.h"

#include "block.h"
#include "source.h"

#define RESERVE_CHUNK (1024u * 1024)
#define RESERVE_MAX_CHUNKS 1024

typedef struct chunk {
    size_t size;     /* bytes mapped, this header included */
    uint64_t state;  /* LIVE_ONE * live blocks + the bump offset (header included) */
} chunk;

#define OFFSET_BITS 40
#define OFFSET_MASK (((uint64_t)1 << OFFSET_BITS) - 1)
#define LIVE_ONE ((uint64_t)1 << OFFSET_BITS)

#define CHUNK_HEADER_SIZE 16u
_Static_assert(sizeof(chunk) <= CHUNK_HEADER_SIZE, "the chunk header keeps blocks 16-aligned");

static struct {
    char *base;
    size_t size;
} chunks[RESERVE_MAX_CHUNKS];
static unsigned chunk_count;  /* slots taken; a slot's bounds may lag */
static chunk *current;        /* where blocks are carved */
static uint64_t calls, bytes_mapped;
uintptr_t reserve_low, reserve_high;

/* Widen [reserve_low, reserve_high) to hold [base, base + size). */
static void note_bounds(uintptr_t base, size_t size)
{
    uintptr_t low = __atomic_load_n(&reserve_low, __ATOMIC_RELAXED);
    while ((!low || base < low) &&
           !__atomic_compare_exchange_n(&reserve_low, &low, base, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
    uintptr_t high = __atomic_load_n(&reserve_high, __ATOMIC_RELAXED);
    while (base + size > high &&
           !__atomic_compare_exchange_n(&reserve_high, &high, base + size, 1, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
        ;
}

/* Make [at, at + span) a block whose payload is aligned to `alignment`;
 * span leaves room for that. */
static void *carve(char *at, size_t span, size_t alignment)
{
    char *payload = (char *)align_up((uintptr_t)at + HMM_HEADER_SIZE, alignment);
    hmm_block *b = block_of(payload);
    b->prev_size = 0;
    block_write(b, (size_t)(at + span - (char *)b) | HMM_IN_USE);
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    return payload;
}

/* A new chunk with the first `span` bytes carved for the caller. */
static void *carve_in_new_chunk(size_t span, size_t alignment)
{
    size_t size = align_up(CHUNK_HEADER_SIZE + span, os_source()->page_size);
    if (size < RESERVE_CHUNK)
        size = RESERVE_CHUNK;
    unsigned slot = __atomic_fetch_add(&chunk_count, 1, __ATOMIC_RELAXED);
    if (slot >= RESERVE_MAX_CHUNKS)
        return NULL; /* a runaway: the slot stays taken, harmlessly */
    chunk *c = os_map_unlocked(size);
    if (!c)
        return NULL;
    c->size = size;
    c->state = LIVE_ONE + CHUNK_HEADER_SIZE + span;
    __atomic_store_n(&chunks[slot].size, size, __ATOMIC_RELAXED);
    __atomic_store_n(&chunks[slot].base, (char *)c, __ATOMIC_RELEASE);
    note_bounds((uintptr_t)c, size);
    __atomic_add_fetch(&bytes_mapped, size, __ATOMIC_RELAXED);
    /* Carve from it from now on, unless another call has put a newer chunk
     * in place meanwhile: then the rest of this one is simply unused. */
    chunk *was = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
    __atomic_compare_exchange_n(&current, &was, c, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    return carve((char *)c + CHUNK_HEADER_SIZE, span, alignment);
}

void *reserve_alloc(size_t size, size_t alignment)
{
    if (alignment < HMM_ALIGNMENT)
        alignment = HMM_ALIGNMENT;
    if (alignment > HMM_MAX_REQUEST / 2)
        return NULL;
    if (alignment & (alignment - 1)) /* as memalign does: up to a power of two */
        alignment = (size_t)1 << (sizeof(size_t) * 8 - (size_t)__builtin_clzl(alignment));
    if (size > HMM_MAX_REQUEST - alignment)
        return NULL;
    /* Header, payload, and what aligning the payload may skip. */
    size_t span = HMM_HEADER_SIZE + align_up(size ? size : 1, HMM_ALIGNMENT) + (alignment - HMM_ALIGNMENT);
    chunk *c = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
    if (c && span <= c->size - CHUNK_HEADER_SIZE) {
        uint64_t state = __atomic_load_n(&c->state, __ATOMIC_RELAXED);
        while ((state & OFFSET_MASK) <= c->size - span)
            if (__atomic_compare_exchange_n(&c->state, &state, state + LIVE_ONE + span, 1,
                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                return carve((char *)c + (state & OFFSET_MASK), span, alignment);
    }
    return carve_in_new_chunk(span, alignment);
}

/* The chunk holding p, or NULL. */
static chunk *chunk_of(const void *p)
{
    unsigned n = __atomic_load_n(&chunk_count, __ATOMIC_ACQUIRE);
    if (n > RESERVE_MAX_CHUNKS)
        n = RESERVE_MAX_CHUNKS;
    for (unsigned i = 0; i < n; i++) {
        char *base = __atomic_load_n(&chunks[i].base, __ATOMIC_ACQUIRE);
        if (base && (const char *)p > base && (const char *)p < base + chunks[i].size)
            return (chunk *)base;
    }
    return NULL;
}

int reserve_holds_slow(const void *p)
{
    return chunk_of(p) != NULL;
}

/* The reserve's blocks are laid one after another, so a pointer inside a
 * chunk that is not a payload fails the seal.  Aligned first: a header
 * read at a misaligned pointer just past the chunk's start could lie
 * before it, outside the mapping. */
static int sealed(const void *p)
{
    const hmm_block *b = block_of(p);
    const char *first = (const char *)chunk_of(p) + CHUNK_HEADER_SIZE;
    return ((uintptr_t)p & (HMM_ALIGNMENT - 1)) == 0 && (const char *)b >= first && block_header_ok(b);
}

size_t reserve_usable(const void *p)
{
    const hmm_block *b = block_of(p);
    return sealed(p) && block_in_use(b) ? block_size(b) - HMM_HEADER_SIZE : 0;
}

int reserve_free(void *p)
{
    if (!sealed(p))
        return -1;
    hmm_block *b = block_of(p);
    size_t word = __atomic_load_n(&b->size_flags, __ATOMIC_RELAXED);
    if (!(word & HMM_IN_USE))
        return 1;
    size_t fields = (word & HMM_FIELD_MASK) & ~(size_t)HMM_IN_USE;
    size_t freed = fields | header_check(b, fields);
    if (!__atomic_compare_exchange_n(&b->size_flags, &word, freed, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return 1;
    /* One live block less; the last one out moves the offset back. */
    chunk *c = chunk_of(p);
    uint64_t state = __atomic_load_n(&c->state, __ATOMIC_RELAXED), next;
    do
        next = state - LIVE_ONE < LIVE_ONE ? CHUNK_HEADER_SIZE : state - LIVE_ONE;
    while (!__atomic_compare_exchange_n(&c->state, &state, next, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    return 0;
}

uint64_t reserve_calls(void) { return __atomic_load_n(&calls, __ATOMIC_RELAXED); }
uint64_t reserve_bytes(void) { return __atomic_load_n(&bytes_mapped, __ATOMIC_RELAXED); }
void reserve_count_call(void) { __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); }
