/*
 * check_mode.c - HMM_CHECK: canaries and fill patterns, to catch what the
 * always-on checks cannot see (they look at headers only).
 *
 * A guarded block (check mode 1 and up) is carved GUARD_EXTRA bytes bigger
 * than asked for, and its spare bytes hold a canary and the size asked for:
 *
 *   payload -> +--------------------------+------------------+-----------+
 *              | the R bytes asked for    | canary: 0xfd ... | R, sealed |
 *              | (new: 0xaa, calloc: 0)   | (at least 8)     | (8 bytes) |
 *              +--------------------------+------------------+-----------+
 *                                                 payload + usable size ^
 *
 * free() and realloc() check the canary: a write past the R bytes, even a
 * single NUL, changed it (reported at the first byte changed).  An overflow
 * long enough to reach the size word is reported at that word.
 *
 * Free memory is filled with 0xdd, all of it but a free block's header and
 * links, and is checked when it is handed out again: a byte that changed
 * was written after it was freed.  The fill is kept through merges and
 * splits (heap.c), so the check costs only the bytes handed out.  The
 * headers of blocks merged into a neighbour stay too: sealed and marked
 * free, they are what tells a double free from a wild pointer (nobody
 * else can write a sealed header, so the check passes over them).
 *
 * Mode 2 also runs the whole-heap checker (check.c, which in check mode
 * checks every canary and every free byte) every check_every operations.
 */
#include "check_mode.h"

#include "format.h"
#include "heap.h"
#include "options.h"

#include <string.h>

/* The size word: where it is, and the mask that seals it to its block. */
static size_t *request_word(const hmm_block *b)
{
    return (size_t *)((char *)block_payload((hmm_block *)b) + block_usable(b) - sizeof(size_t));
}

static size_t request_seal(const hmm_block *b)
{
    return hmm_secret ^ ((uintptr_t)b * 0x9e3779b97f4a7c15ull);
}

size_t guard_request(const hmm_block *b)
{
    size_t request = *request_word(b) ^ request_seal(b);
    return request <= block_usable(b) - GUARD_EXTRA ? request : SIZE_MAX;
}

void guard_seal(hmm_heap *h, hmm_block *b, size_t request, size_t keep)
{
    (void)h;
    char *p = block_payload(b);
    char *word = (char *)request_word(b);
    if (request > keep)
        memset(p + keep, HMM_ALLOC_FILL, request - keep);
    memset(p + request, HMM_CANARY_FILL, (size_t)(word - (p + request)));
    *(size_t *)word = request ^ request_seal(b);
    block_write(b, (b->size_flags & HMM_FIELD_MASK) | HMM_GUARDED);
}

const unsigned char *guard_first_changed(const void *from, const void *to, unsigned char fill)
{
    const unsigned char *p = from, *end = to;
    uint64_t pattern = fill * 0x0101010101010101ull;
    while (p < end && ((uintptr_t)p & 7))
        if (*p++ != fill)
            return p - 1;
    for (; p + 8 <= end; p += 8) /* a word at a time: free blocks can be big */
        if (*(const uint64_t *)p != pattern)
            break;
    for (; p < end; p++)
        if (*p != fill)
            return p;
    return NULL;
}

const unsigned char *guard_canary_changed(const hmm_block *b)
{
    size_t request = guard_request(b);
    const char *word = (const char *)request_word(b);
    if (request == SIZE_MAX)
        return (const unsigned char *)word;
    const char *p = block_payload((hmm_block *)b);
    return guard_first_changed(p + request, word, HMM_CANARY_FILL);
}

int guard_intact(hmm_heap *h, const hmm_block *b)
{
    const unsigned char *changed = guard_canary_changed(b);
    if (!changed)
        return 1;
    misuse_report(h, HMM_FAULT_OVERFLOW, changed, block_payload((hmm_block *)b), guard_request(b));
    return 0;
}

void guard_fill_free(void *from, void *to)
{
    if ((char *)to > (char *)from)
        memset(from, HMM_FREE_FILL, (size_t)((char *)to - (char *)from));
}

/* A header left behind by a merge, at a 16-aligned address: sealed, free. */
static int stale_header_at(const void *at)
{
    const hmm_block *b = at;
    return !((uintptr_t)b & (HMM_ALIGNMENT - 1)) && block_header_ok(b) && !block_in_use(b);
}

const unsigned char *guard_free_changed(const void *from, const void *to)
{
    const unsigned char *changed = guard_first_changed(from, to, HMM_FREE_FILL);
    while (changed) {
        const unsigned char *header = (const unsigned char *)((uintptr_t)changed & ~(uintptr_t)(HMM_ALIGNMENT - 1));
        if (header < (const unsigned char *)from || header + HMM_HEADER_SIZE > (const unsigned char *)to ||
            !stale_header_at(header))
            return changed;
        changed = guard_first_changed(header + HMM_HEADER_SIZE, to, HMM_FREE_FILL);
    }
    return NULL;
}

int guard_free_intact(hmm_heap *h, const void *from, const void *to)
{
    const unsigned char *changed = guard_free_changed(from, to);
    if (!changed)
        return 1;
    misuse_report(h, HMM_FAULT_WRITE_AFTER_FREE, changed, NULL, 0);
    return 0;
}

void guard_tick(hmm_heap *h)
{
    if (--h->check_countdown)
        return;
    h->check_countdown = h->check_every;
    char why[HMM_MESSAGE_MAX];
    if (hmm_heap_check(h, why, sizeof why) == 0)
        return;
    char *newline = strchr(why, '\n');
    if (newline)
        *newline = '\0';
    char text[HMM_MESSAGE_MAX];
    hmm_text t;
    text_init(&t, text, sizeof text);
    text_str(&t, "heap check failed: ");
    text_str(&t, why);
    misuse_report_text(h, HMM_FAULT_HEAP_CHECK, text);
}

int hmm_heap_set_check(hmm_heap *h, int level, unsigned every)
{
    if (level < 0 || level > 2)
        return -1;
    if (level && !h->check_level) {
        /* Free memory from before must hold the fill like the rest. */
        for (hmm_segment *s = h->segments; s; s = s->next)
            for (hmm_block *b = segment_first_block(s); !block_is_end(b); b = block_next(b))
                if (!block_in_use(b))
                    guard_fill_free(b + 1, (char *)b + block_size(b));
    }
    h->check_level = level;
    h->check_every = every ? every : (unsigned)option_default_size(OPTION_CHECK_EVERY);
    h->check_countdown = h->check_every;
    return 0;
}
