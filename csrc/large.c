/*
 * large.c - large blocks, each in a mapping of its own.
 *
 * A request of at least the heap's mmap_threshold (128 KiB to start with)
 * is not carved from the heap: it gets its own mapping, and free() unmaps
 * it, so its memory goes straight back to the OS and never fragments the
 * heap.  realloc() resizes the mapping in place or moves it without copying
 * (mremap).  As in glibc, the threshold adapts: freeing a mapped block
 * larger than the threshold raises the threshold to that size (up to 32
 * MiB), because a program that frees such blocks will likely allocate them
 * again, and mapping them each time is slow (except in check mode: see
 * realloc_checked in heap.c).
 *
 *   mapping -> +---------+-----------------+---------------------------+
 *              | padding | header          | payload ...               |
 *              | (only   | prev_size = pad |                           |
 *              | for big | size = mapping  |                           |
 *              | aligns) |  - pad, flags   |                           |
 *              +---------+-----------------+---------------------------+
 *
 * free() must tell a mapped block from a wild pointer without touching
 * memory that may not be mapped, so every mapped block is in a registry: an
 * open-addressing hash set of payload addresses, itself in mapped memory.
 */
#include "heap.h"

#include <string.h>

#define REGISTRY_MIN_SLOTS 512
#define HMM_MMAP_THRESHOLD_MAX (32u * 1024 * 1024)

/* ---- The registry ------------------------------------------------------- */

static size_t slot_of(const hmm_large_registry *r, uintptr_t key)
{
    return (size_t)((key >> 4) * 0x9e3779b97f4a7c15ull) & (r->capacity - 1);
}

static int registry_resize(hmm_heap *h, size_t capacity)
{
    hmm_large_registry *r = &h->large;
    uintptr_t *slots = h->source->map(h->source, align_up(capacity * sizeof *slots, h->source->page_size));
    if (!slots)
        return -1;
    uintptr_t *old = r->slots;
    size_t old_capacity = r->capacity;
    r->slots = slots;
    r->capacity = capacity;
    for (size_t i = 0; i < old_capacity; i++) {
        uintptr_t key = old[i];
        if (!key)
            continue;
        size_t j = slot_of(r, key);
        while (slots[j])
            j = (j + 1) & (capacity - 1);
        slots[j] = key;
    }
    if (old)
        h->source->unmap(h->source, old, align_up(old_capacity * sizeof *slots, h->source->page_size));
    return 0;
}

static int registry_add(hmm_heap *h, const void *payload)
{
    hmm_large_registry *r = &h->large;
    if ((r->count + 1) * 2 > r->capacity &&
        registry_resize(h, r->capacity ? r->capacity * 2 : REGISTRY_MIN_SLOTS) != 0)
        return -1;
    size_t i = slot_of(r, (uintptr_t)payload);
    while (r->slots[i])
        i = (i + 1) & (r->capacity - 1);
    r->slots[i] = (uintptr_t)payload;
    r->count++;
    return 0;
}

static size_t registry_find(const hmm_large_registry *r, const void *payload)
{
    if (!r->capacity)
        return (size_t)-1;
    for (size_t i = slot_of(r, (uintptr_t)payload); r->slots[i]; i = (i + 1) & (r->capacity - 1))
        if (r->slots[i] == (uintptr_t)payload)
            return i;
    return (size_t)-1;
}

int large_is_block(const hmm_heap *h, const void *payload)
{
    return registry_find(&h->large, payload) != (size_t)-1;
}

/* Linear probing's deletion: pull later members of the run back so that no
 * lookup stops early at the hole. */
static void registry_remove(hmm_heap *h, const void *payload)
{
    hmm_large_registry *r = &h->large;
    size_t hole = registry_find(r, payload);
    if (hole == (size_t)-1)
        return;
    r->slots[hole] = 0;
    r->count--;
    for (size_t i = (hole + 1) & (r->capacity - 1); r->slots[i]; i = (i + 1) & (r->capacity - 1)) {
        size_t home = slot_of(r, r->slots[i]);
        /* Move it if the hole lies cyclically between its home and i. */
        if (((i - home) & (r->capacity - 1)) >= ((i - hole) & (r->capacity - 1))) {
            r->slots[hole] = r->slots[i];
            r->slots[i] = 0;
            hole = i;
        }
    }
}

/* ---- Blocks freed lately ------------------------------------------------ */

static void remember_freed(hmm_heap *h, uintptr_t payload, size_t size)
{
    hmm_large_registry *r = &h->large;
    r->freed[r->freed_next] = payload;
    r->freed_size[r->freed_next] = size;
    r->freed_next = (r->freed_next + 1) % HMM_FREED_LARGE_KEPT;
}

/* payload is a live block again (a new mapping landed there). */
static void forget_freed(hmm_heap *h, uintptr_t payload)
{
    for (unsigned i = 0; i < HMM_FREED_LARGE_KEPT; i++)
        if (h->large.freed[i] == payload)
            h->large.freed[i] = 0;
}

size_t large_recently_freed(const hmm_heap *h, const void *payload)
{
    for (unsigned i = 0; i < HMM_FREED_LARGE_KEPT; i++)
        if (h->large.freed[i] == (uintptr_t)payload)
            return h->large.freed_size[i];
    return 0;
}

const void *large_block_holding(const hmm_heap *h, const void *p)
{
    for (size_t i = 0; i < h->large.capacity; i++) {
        uintptr_t payload = h->large.slots[i];
        if (payload && (uintptr_t)p > payload && (uintptr_t)p < payload + block_usable(block_of((void *)payload)))
            return (const void *)payload;
    }
    return NULL;
}

void large_each(const hmm_heap *h, void (*visit)(hmm_block *b, void *ctx), void *ctx)
{
    for (size_t i = 0; i < h->large.capacity; i++)
        if (h->large.slots[i])
            visit(block_of((void *)h->large.slots[i]), ctx);
}

/* ---- Large blocks ------------------------------------------------------- */

static char *mapping_of(const hmm_block *b) { return (char *)b - b->prev_size; }
static size_t mapping_length(const hmm_block *b) { return b->prev_size + block_size(b); }

void *large_alloc(hmm_heap *h, size_t size, size_t alignment)
{
    size_t page = h->source->page_size;
    size_t slack = alignment > HMM_ALIGNMENT ? alignment : 0;
    if (size > HMM_MAX_REQUEST - slack - HMM_HEADER_SIZE - page)
        return NULL;
    size_t length = align_up(HMM_HEADER_SIZE + size + slack, page);
    char *base = h->source->map(h->source, length);
    if (!base)
        return NULL;
    char *payload = (char *)align_up((uintptr_t)base + HMM_HEADER_SIZE, alignment);
    if (registry_add(h, payload) != 0) {
        h->source->unmap(h->source, base, length);
        return NULL;
    }
    forget_freed(h, (uintptr_t)payload);
    hmm_block *b = block_of(payload);
    b->prev_size = (size_t)((char *)b - base);
    block_write(b, (length - b->prev_size) | HMM_IN_USE | HMM_PREV_IN_USE | HMM_MAPPED);
    h->counters.mapped_blocks++;
    h->counters.mapped_bytes += length;
    return payload;
}

void large_free(hmm_heap *h, hmm_block *b)
{
    size_t length = mapping_length(b);
    registry_remove(h, block_payload(b));
    remember_freed(h, (uintptr_t)block_payload(b), block_size(b));
    h->counters.mapped_blocks--;
    h->counters.mapped_bytes -= length;
    /* (Not in check mode, which copies every block of the heap that
     * realloc grows: the threshold bounds those copies.) */
    if (!h->thresholds_fixed && !h->check_level && block_size(b) > h->mmap_threshold &&
        block_size(b) <= HMM_MMAP_THRESHOLD_MAX) {
        h->mmap_threshold = block_size(b);
        h->trim_threshold = 2 * block_size(b);
    }
    h->source->unmap(h->source, mapping_of(b), length);
}

hmm_block *large_resize(hmm_heap *h, hmm_block *b, size_t size)
{
    size_t old_length = mapping_length(b);
    if (size > HMM_MAX_REQUEST - b->prev_size - HMM_HEADER_SIZE - h->source->page_size)
        return NULL;
    size_t length = align_up(b->prev_size + HMM_HEADER_SIZE + size, h->source->page_size);
    if (length == old_length)
        return b;
    if (!h->source->remap)
        return NULL;
    size_t pad = b->prev_size;
    char *base = h->source->remap(h->source, mapping_of(b), old_length, length);
    if (!base)
        return NULL;
    hmm_block *moved = (hmm_block *)(base + pad);
    /* b's memory may be gone: use only its address.  The add cannot fail:
     * the table just lost a member, so it has room without growing. */
    registry_remove(h, block_payload(b));
    registry_add(h, block_payload(moved));
    forget_freed(h, (uintptr_t)block_payload(moved));
    if (moved != b) /* the old address is a freed pointer now */
        remember_freed(h, (uintptr_t)block_payload(b), old_length - pad);
    block_write(moved, (length - pad) | HMM_IN_USE | HMM_PREV_IN_USE | HMM_MAPPED);
    h->counters.mapped_bytes += length;
    h->counters.mapped_bytes -= old_length;
    return moved;
}
