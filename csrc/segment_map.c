/*
 * segment_map.c - which segment holds an address, in O(1).
 *
 * free() and realloc() must find the segment of every pointer outside the
 * newest segment and the break segment.  A program that moves the break
 * itself between allocations gives the heap a new segment each time, and a
 * walk of the segment list made every such free cost one step per segment:
 * 1,000 segments, 100 times glibc's free.
 *
 * The map cuts the address space into granules of 64 KiB and keeps, for
 * each granule some segment overlaps, the first (lowest) such segment.  The
 * segments are linked in address order, so the segment holding p is found
 * from the entry of p's granule in a step or two along the list: a segment
 * is at least a page, and most are 128 KiB and up, so few share a granule.
 *
 *   granule:   |  g   |  g+1 |  g+2 |  g+3 |
 *   segments:  [ A       ][B][ C                 ]
 *   entry:        A      A      C      C
 *
 * The map is an open-addressing hash table (linear probing) of granule ->
 * segment, in memory mapped from the heap's source, as large.c's registry.
 * It is built when the heap gets its MAP_FROM_SEGMENTS'th segment: most
 * heaps have one or two, and a walk of a few costs no more than the map.
 * A heap whose source cannot map, or that could not get memory for the
 * table, walks the list as before (map.failed).  Entries are added when a
 * segment is made or grows, and taken out when trimming gives a segment's
 * last granules back; an entry that names an earlier segment than needed
 * costs only a step more, never a wrong answer.
 */
#include "heap.h"

#define GRANULE_SHIFT 16
#define MAP_MIN_SLOTS 512
#define MAP_FROM_SEGMENTS 8

static uintptr_t granule_of(const void *p) { return (uintptr_t)p >> GRANULE_SHIFT; }

static size_t map_slot(const hmm_segment_map *m, uintptr_t granule)
{
    return (size_t)(granule * 0x9e3779b97f4a7c15ull >> 20) & (m->capacity - 1);
}

static size_t map_bytes(const hmm_heap *h, size_t capacity)
{
    return align_up(capacity * sizeof(hmm_segment_map_slot), h->source->page_size);
}

static hmm_segment_map_slot *map_find_slot(const hmm_segment_map *m, uintptr_t granule)
{
    if (!m->capacity)
        return NULL;
    for (size_t i = map_slot(m, granule); m->slots[i].segment; i = (i + 1) & (m->capacity - 1))
        if (m->slots[i].granule == granule)
            return &m->slots[i];
    return NULL;
}

/* Place an entry known to be absent, in a table with room for it. */
static void map_place(hmm_segment_map *m, uintptr_t granule, hmm_segment *s)
{
    size_t i = map_slot(m, granule);
    while (m->slots[i].segment)
        i = (i + 1) & (m->capacity - 1);
    m->slots[i].granule = granule;
    m->slots[i].segment = s;
    m->count++;
}

static int map_resize(hmm_heap *h, size_t capacity)
{
    hmm_segment_map *m = &h->segment_map;
    hmm_segment_map_slot *slots = h->source->map(h->source, map_bytes(h, capacity));
    if (!slots)
        return -1;
    hmm_segment_map_slot *old = m->slots;
    size_t old_capacity = m->capacity;
    m->slots = slots;
    m->capacity = capacity;
    m->count = 0;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].segment)
            map_place(m, old[i].granule, old[i].segment);
    if (old)
        h->source->unmap(h->source, old, map_bytes(h, old_capacity));
    return 0;
}

/* Give up on the map: from now on the list is walked. */
static void map_fail(hmm_heap *h)
{
    hmm_segment_map *m = &h->segment_map;
    if (m->slots)
        h->source->unmap(h->source, m->slots, map_bytes(h, m->capacity));
    m->slots = NULL;
    m->capacity = m->count = 0;
    m->failed = 1;
}

/* Enter segment s for granules [first, last]: where a granule has an entry
 * already, keep the lower segment of the two. */
static void map_cover(hmm_heap *h, hmm_segment *s, uintptr_t first, uintptr_t last)
{
    hmm_segment_map *m = &h->segment_map;
    if (m->failed)
        return;
    if (!h->source->map || !h->source->unmap) {
        m->failed = 1;
        return;
    }
    for (uintptr_t g = first; g <= last; g++) {
        hmm_segment_map_slot *slot = map_find_slot(m, g);
        if (slot) {
            if (s < slot->segment)
                slot->segment = s;
            continue;
        }
        if ((m->count + 1) * 2 > m->capacity &&
            map_resize(h, m->capacity ? m->capacity * 2 : MAP_MIN_SLOTS) != 0) {
            map_fail(h);
            return;
        }
        map_place(m, g, s);
    }
}

static void map_cover_segment(hmm_heap *h, hmm_segment *s)
{
    map_cover(h, s, granule_of(s), granule_of(segment_end(s) - 1));
}

void segment_map_add(hmm_heap *h, hmm_segment *s)
{
    hmm_segment_map *m = &h->segment_map;
    m->segments++;
    if (m->capacity) {
        map_cover_segment(h, s);
    } else if (m->segments >= MAP_FROM_SEGMENTS) { /* the map starts now, with them all */
        for (hmm_segment *each = h->segments; each && !m->failed; each = each->next)
            map_cover_segment(h, each);
    }
}

void segment_map_grown(hmm_heap *h, hmm_segment *s, const char *old_end)
{
    if (h->segment_map.capacity)
        map_cover(h, s, granule_of(old_end - 1), granule_of(segment_end(s) - 1));
}

/* Linear probing's deletion: pull later members of the run back so that no
 * lookup stops early at the hole. */
static void map_remove(hmm_segment_map *m, hmm_segment_map_slot *slot)
{
    size_t hole = (size_t)(slot - m->slots);
    m->slots[hole].segment = NULL;
    m->count--;
    for (size_t i = (hole + 1) & (m->capacity - 1); m->slots[i].segment; i = (i + 1) & (m->capacity - 1)) {
        size_t home = map_slot(m, m->slots[i].granule);
        if (((i - home) & (m->capacity - 1)) >= ((i - hole) & (m->capacity - 1))) {
            m->slots[hole] = m->slots[i];
            m->slots[i].segment = NULL;
            hole = i;
        }
    }
}

void segment_map_shrunk(hmm_heap *h, hmm_segment *s, const char *old_end)
{
    hmm_segment_map *m = &h->segment_map;
    if (!m->capacity)
        return;
    uintptr_t last = granule_of(old_end - 1);
    for (uintptr_t g = granule_of(segment_end(s) - 1) + 1; g <= last; g++) {
        hmm_segment_map_slot *slot = map_find_slot(m, g);
        if (!slot || slot->segment != s)
            continue;
        /* The next segment may start in this granule: it is the first now. */
        if (s->next && granule_of(s->next) == g)
            slot->segment = s->next;
        else
            map_remove(m, slot);
    }
}

hmm_segment *segment_map_find(const hmm_heap *h, const void *p)
{
    hmm_segment_map_slot *slot = map_find_slot(&h->segment_map, granule_of(p));
    if (!slot)
        return NULL;
    for (hmm_segment *s = slot->segment; s && (const char *)s <= (const char *)p; s = s->next)
        if ((const char *)p < segment_end(s))
            return s;
    return NULL;
}
