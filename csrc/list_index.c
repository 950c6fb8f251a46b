/*
 * list_index.c - first and next fit's choices without the walk, for replays.
 *
 * First fit and next fit walk one LIFO list of free blocks (placement_list.c)
 * and stop at the first block big enough.  In a long-running program the
 * small blocks freed last crowd the head: python3 passes about 300 free
 * blocks an allocation, each a cache miss somewhere in the heap, so its
 * replay ran at a million calls a second.  A replay must make the walk's
 * choices (its heap is the process's heap, block for block) and report
 * what the walk looked at (the policies table's "examined"), but it need
 * not walk.  This index answers both questions from a few cache lines.
 *
 * Slots.  Every block filed gets the next slot number, so the list's order,
 * newest first, is the slots' order from the highest down, and a walk from
 * a block is a scan down from its slot.  A slot holds the block's size (0
 * once the block has left the list) and the block.
 *
 *   slot     0    1    2    3    4    5   ...            next-1   next
 *   size   [  0 | 48 |  0 |  0 |1040| 32 | ... |        |  96  ]   (unused)
 *           tail of the list  ------------------------->  head
 *
 * Above the slots, the largest size in each group of 64 slots, and in each
 * group of 64 groups (4096 slots): a search for the highest slot at or
 * below s holding at least n bytes skips every group whose largest is
 * smaller.  A bit per live slot, and a count per group and per super
 * group, give how many live slots lie between two slots: the blocks the
 * walk would have looked at.
 * Taking a block out finds its slot through a hash map from its address.
 * When the slots run out, the live ones move down to 0, 1, 2, ... in
 * place, if at most half of the slots are live; else the index is built
 * anew from the list itself, with room for twice its blocks.  Either
 * is O(slots), and comes after at least slots / 2 blocks were filed: O(1)
 * a call, spread out.
 *
 * A replay attaches an index for the length of hmm_replay (replay.c) and
 * drops it after; a heap in a process never has one.  The walk's other
 * stop, a block whose header is broken, cannot happen in a replay: no
 * program writes into a simulated heap's free blocks.  A replay that
 * watches which blocks are looked at (hmm_replay_watch) walks instead.
 * Memory comes from malloc (this file is built into the Python binding
 * only, never into the preload library), and a thread keeps the last
 * index's memory for its next replay.
 */
#include "list_index.h"

#include "placement.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GROUP 64u                 /* slots a group (a word of live bits), and groups a super group */
#define SUPER (GROUP * GROUP)     /* slots a super group: 4096 */
#define MIN_SLOTS 256u            /* few, so that a small list's slots are not mostly empty */

extern const hmm_placement_ops first_fit_placement, next_fit_placement;

#define NO_SLOT UINT32_MAX      /* an empty entry of the hash map */

typedef struct list_index {
    hmm_list_index hooks;  /* first: placement_list.c sees this part */
    size_t bytes;          /* of this allocation: the struct and its arrays */
    const hmm_placement *owner; /* detached: the list it still describes, ... */
    uint64_t owner_hash;   /* ... while the list's history hash is this */
    uint64_t slots;        /* room, a multiple of GROUP */
    uint64_t groups, supers; /* slots / GROUP; groups / GROUP rounded up */
    uint64_t next;         /* the slot the next block filed gets */
    uint64_t live;         /* blocks on the list */
    uint64_t *size;        /* [slots]: a live slot's block size, else 0 */
    hmm_block **block;     /* [slots]: a live slot's block */
    uint64_t *live_bits;   /* [groups]: a bit per live slot */
    uint64_t *group_max;   /* [groups]: the largest size in the group */
    uint32_t *group_live;  /* [groups]: its live slots (the popcount of its bits, kept:
                            * without -mpopcnt a popcount is a call into libgcc) */
    uint64_t *super_max;   /* [supers]: the largest size in the super group */
    uint64_t *super_live;  /* [supers]: its live slots */
    uint32_t *table;       /* the hash map: live slots, found by their block's
                            * address; a power of two entries, at most half used */
    uint64_t table_mask;
    unsigned table_shift;
} list_index;

/* ---- The hash map: block address -> slot (linear probing) -------------- */

static uint64_t home_of(const list_index *ix, const hmm_block *b)
{
    return (((uintptr_t)b >> 4) * 0x9E3779B97F4A7C15ull) >> ix->table_shift;
}

static void map_put(list_index *ix, const hmm_block *b, uint64_t slot)
{
    uint64_t i = home_of(ix, b);
    while (ix->table[i] != NO_SLOT)
        i = (i + 1) & ix->table_mask;
    ix->table[i] = (uint32_t)slot;
}

/* Where b's entry is (b must be in the map). */
static uint64_t map_entry(const list_index *ix, const hmm_block *b)
{
    uint64_t i = home_of(ix, b);
    while (ix->block[ix->table[i]] != b)
        i = (i + 1) & ix->table_mask;
    return i;
}

/* b's slot, taken out of the map. */
static uint64_t map_take(list_index *ix, const hmm_block *b)
{
    uint64_t i = map_entry(ix, b);
    uint64_t slot = ix->table[i];
    /* Close the gap: move back each later entry of the run that may sit
     * at i (its home is not between the gap and itself). */
    for (uint64_t j = (i + 1) & ix->table_mask; ix->table[j] != NO_SLOT; j = (j + 1) & ix->table_mask) {
        uint64_t home = home_of(ix, ix->block[ix->table[j]]);
        if (((j - home) & ix->table_mask) >= ((j - i) & ix->table_mask)) {
            ix->table[i] = ix->table[j];
            i = j;
        }
    }
    ix->table[i] = NO_SLOT;
    return slot;
}

/* b's slot, or -1 if it has none. */
static int64_t map_get(const list_index *ix, const hmm_block *b)
{
    for (uint64_t i = home_of(ix, b); ix->table[i] != NO_SLOT; i = (i + 1) & ix->table_mask)
        if (ix->block[ix->table[i]] == b)
            return ix->table[i];
    return -1;
}

/* ---- Slots -------------------------------------------------------------- */

static void slot_fill(list_index *ix, uint64_t s, hmm_block *b)
{
    uint64_t size = block_size(b);
    ix->size[s] = size;
    ix->block[s] = b;
    ix->live_bits[s / GROUP] |= (uint64_t)1 << (s % GROUP);
    if (size > ix->group_max[s / GROUP])
        ix->group_max[s / GROUP] = size;
    if (size > ix->super_max[s / SUPER])
        ix->super_max[s / SUPER] = size;
    ix->group_live[s / GROUP]++;
    ix->super_live[s / SUPER]++;
    ix->live++;
    map_put(ix, b, s);
}

static uint64_t largest_of(const uint64_t *sizes, uint64_t n)
{
    uint64_t largest = 0;
    for (uint64_t i = 0; i < n; i++)
        largest = sizes[i] > largest ? sizes[i] : largest;
    return largest;
}

/* The groups of super group t: the last one may have fewer than GROUP. */
static uint64_t groups_in(const list_index *ix, uint64_t t)
{
    return ix->groups - t * GROUP < GROUP ? ix->groups - t * GROUP : GROUP;
}

static void slot_clear(list_index *ix, uint64_t s)
{
    uint64_t size = ix->size[s], g = s / GROUP;
    ix->size[s] = 0;
    ix->live_bits[g] &= ~((uint64_t)1 << (s % GROUP));
    ix->group_live[g]--;
    ix->super_live[s / SUPER]--;
    ix->live--;
    if (ix->group_max[g] != size)
        return; /* not the group's largest: the maxima stand */
    ix->group_max[g] = largest_of(&ix->size[g * GROUP], GROUP);
    uint64_t t = s / SUPER;
    if (ix->super_max[t] == size)
        ix->super_max[t] = largest_of(&ix->group_max[t * GROUP], groups_in(ix, t));
}

/* The highest slot of group g holding at least `want`, at or below `from`. */
static int64_t group_scan(const list_index *ix, uint64_t g, uint64_t from, uint64_t want)
{
    for (int64_t s = (int64_t)from; s >= (int64_t)(g * GROUP); s--)
        if (ix->size[s] >= want)
            return s;
    return -1;
}

/* The highest slot at or below `from` (which may be -1) whose block holds
 * at least `want` bytes, or -1 if none does: the slot where a walk from
 * `from`'s block stops. */
static int64_t highest_fit(const list_index *ix, int64_t from, uint64_t want)
{
    if (from < 0)
        return -1;
    uint64_t g = (uint64_t)from / GROUP;
    if (ix->group_max[g] >= want) {
        int64_t s = group_scan(ix, g, (uint64_t)from, want);
        if (s >= 0)
            return s;
    }
    /* The groups below, in from's super group, then the super groups below. */
    int64_t super = (int64_t)(g / GROUP);
    for (int64_t h = (int64_t)g - 1; h >= super * (int64_t)GROUP; h--)
        if (ix->group_max[h] >= want)
            return group_scan(ix, (uint64_t)h, (uint64_t)h * GROUP + GROUP - 1, want);
    for (int64_t t = super - 1; t >= 0; t--) {
        if (ix->super_max[t] < want)
            continue;
        for (int64_t h = t * (int64_t)GROUP + GROUP - 1; h >= t * (int64_t)GROUP; h--)
            if (ix->group_max[h] >= want)
                return group_scan(ix, (uint64_t)h, (uint64_t)h * GROUP + GROUP - 1, want);
    }
    return -1;
}

/* Live slots in [lo, hi] (lo <= hi < slots): the blocks a walk passes
 * from hi's block down to lo's, both included.  Whole groups and super
 * groups in between are counted by their counts, not bit by bit. */
static uint64_t live_between(const list_index *ix, uint64_t lo, uint64_t hi)
{
    uint64_t first = lo / GROUP, last = hi / GROUP;
    uint64_t from_lo = ~(uint64_t)0 << (lo % GROUP);
    uint64_t to_hi = hi % GROUP == GROUP - 1 ? ~(uint64_t)0 : ((uint64_t)1 << (hi % GROUP + 1)) - 1;
    if (first == last)
        return (uint64_t)__builtin_popcountll(ix->live_bits[first] & from_lo & to_hi);
    uint64_t n = (uint64_t)__builtin_popcountll(ix->live_bits[first] & from_lo) +
                 (uint64_t)__builtin_popcountll(ix->live_bits[last] & to_hi);
    for (uint64_t g = first + 1; g < last;) {
        if (g % GROUP == 0 && g + GROUP <= last) { /* a whole super group */
            n += ix->super_live[g / GROUP];
            g += GROUP;
        } else {
            n += ix->group_live[g++];
        }
    }
    return n;
}

/* Live slots at or above slot s: the blocks a walk from the head passes to
 * reach s's, s's included. */
static uint64_t live_from(const list_index *ix, uint64_t s)
{
    return s < ix->next ? live_between(ix, s, ix->next - 1) : 0;
}

/* Out of slots, with most of them emptied: move the live ones down to
 * 0, 1, 2, ... in their order, in place (no memory to fault in, no list to
 * walk), and count the groups again. */
static void compact(list_index *ix)
{
    uint64_t to = 0;
    for (uint64_t s = 0; s < ix->next; s++) {
        if (!ix->size[s])
            continue;
        if (to != s) {
            /* b's entry is found through block[s] (still b), then moved */
            hmm_block *b = ix->block[s];
            ix->table[map_entry(ix, b)] = (uint32_t)to;
            ix->size[to] = ix->size[s];
            ix->block[to] = b;
        }
        to++;
    }
    memset(&ix->size[to], 0, (ix->next - to) * sizeof *ix->size);
    ix->next = to;
    for (uint64_t g = 0; g < ix->groups; g++) {
        uint64_t bits = 0;
        uint32_t live = 0;
        for (uint64_t i = 0; i < GROUP; i++) {
            uint64_t occupied = ix->size[g * GROUP + i] != 0;
            bits |= occupied << i;
            live += (uint32_t)occupied;
        }
        ix->live_bits[g] = bits;
        ix->group_live[g] = live;
        ix->group_max[g] = largest_of(&ix->size[g * GROUP], GROUP);
    }
    for (uint64_t t = 0; t < ix->supers; t++) {
        ix->super_max[t] = largest_of(&ix->group_max[t * GROUP], groups_in(ix, t));
        ix->super_live[t] = 0;
        for (uint64_t g = t * GROUP; g < t * GROUP + groups_in(ix, t); g++)
            ix->super_live[t] += ix->group_live[g];
    }
}

/* ---- Building ----------------------------------------------------------- */

static void index_filed(hmm_placement *p, hmm_block *b);
static void index_unfiled(hmm_placement *p, hmm_block *b);
static hmm_block *index_first(hmm_placement *p, size_t size);
static hmm_block *index_next(hmm_placement *p, size_t size);
static void index_drop(list_index *ix);

/* The last index detached on this thread.  A replay attaches an index for
 * each stretch of calls it runs: when the next stretch is of the same heap
 * and nothing has touched its list since (its history hash, placement.h,
 * is the same), the index is taken back as it is; else its memory is
 * reused, as fresh memory would be faulted in and zeroed by the kernel
 * every time. */
static __thread list_index *spare;
#define SPARE_MOST ((size_t)64 << 20)

static void *carve(char **at, size_t bytes)
{
    void *p = *at;
    *at += (bytes + 15) & ~(size_t)15;
    return p;
}

/* An empty index with room for `slots`, or NULL if there is no memory. */
static list_index *index_new(uint64_t slots)
{
    uint64_t groups = slots / GROUP, supers = (groups + GROUP - 1) / GROUP;
    uint64_t entries = 1;
    unsigned bits = 0;
    while (entries < 2 * slots) {
        entries *= 2;
        bits++;
    }
    size_t bytes = ((sizeof(list_index) + 15) & ~(size_t)15) + slots * (sizeof(uint64_t) + sizeof(hmm_block *)) +
                   groups * (2 * sizeof(uint64_t) + sizeof(uint32_t)) + supers * 2 * sizeof(uint64_t) +
                   entries * sizeof(uint32_t) + 8 * 16;
    list_index *ix = spare;
    spare = NULL;
    if (!ix || ix->bytes < bytes) {
        free(ix);
        if (!(ix = malloc(bytes)))
            return NULL;
    } else {
        bytes = ix->bytes;
    }
    char *at = (char *)ix;
    carve(&at, sizeof *ix);
    *ix = (list_index){
        .hooks = {index_filed, index_unfiled, index_first, index_next, list_index_check},
        .bytes = bytes,
        .slots = slots,
        .groups = groups,
        .supers = supers,
        .size = carve(&at, slots * sizeof(uint64_t)),
        .block = carve(&at, slots * sizeof(hmm_block *)), /* read only where a slot is live */
        .live_bits = carve(&at, groups * sizeof(uint64_t)),
        .group_max = carve(&at, groups * sizeof(uint64_t)),
        .group_live = carve(&at, groups * sizeof(uint32_t)),
        .super_max = carve(&at, supers * sizeof(uint64_t)),
        .super_live = carve(&at, supers * sizeof(uint64_t)),
        .table = carve(&at, entries * sizeof(uint32_t)),
        .table_mask = entries - 1,
        .table_shift = 64 - bits,
    };
    memset(ix->size, 0, slots * sizeof(uint64_t));
    memset(ix->live_bits, 0, groups * sizeof(uint64_t));
    memset(ix->group_max, 0, groups * sizeof(uint64_t));
    memset(ix->group_live, 0, groups * sizeof(uint32_t));
    memset(ix->super_max, 0, supers * sizeof(uint64_t));
    memset(ix->super_live, 0, supers * sizeof(uint64_t));
    memset(ix->table, 0xff, entries * sizeof(uint32_t)); /* NO_SLOT */
    return ix;
}

/* An index of p's list, with room for as many blocks again (and a few);
 * NULL if there is no memory for it (the list is then walked). */
static list_index *index_build(const hmm_placement *p)
{
    uint64_t live = 0;
    for (const hmm_block *b = p->list; b; b = next_raw(b))
        live++;
    list_index *ix = index_new((2 * live + MIN_SLOTS + GROUP - 1) / GROUP * GROUP);
    if (!ix)
        return NULL;
    /* The head is the newest: it gets the highest slot, live - 1. */
    uint64_t s = live;
    for (hmm_block *b = p->list; b; b = (hmm_block *)next_raw(b))
        slot_fill(ix, --s, b);
    ix->next = live;
    return ix;
}

/* Done with ix: it becomes this thread's spare (the one before is freed),
 * unless it is too big to keep. */
static void index_drop(list_index *ix)
{
    if (spare != ix)
        free(spare);
    spare = ix && ix->bytes <= SPARE_MOST ? ix : NULL;
    if (ix && !spare)
        free(ix);
}

int list_index_attach(hmm_placement *p)
{
    if (p->index || (p->ops != &first_fit_placement && p->ops != &next_fit_placement))
        return 0;
    list_index *ix;
    if (spare && spare->owner == p && spare->owner_hash == p->list_hash) {
        ix = spare; /* the list is as this index left it */
        spare = NULL;
        ix->owner = NULL; /* attached, it follows the list again */
    } else {
        ix = index_build(p);
    }
    p->index = ix ? &ix->hooks : NULL;
    return ix != NULL;
}

void list_index_detach(hmm_placement *p)
{
    list_index *ix = (list_index *)p->index;
    if (ix) {
        ix->owner = p;
        ix->owner_hash = p->list_hash;
    }
    index_drop(ix);
    p->index = NULL;
}

/* ---- What the list asks ------------------------------------------------- */

static void index_filed(hmm_placement *p, hmm_block *b)
{
    list_index *ix = (list_index *)p->index;
    if (ix->next == ix->slots && 2 * ix->live + MIN_SLOTS <= ix->slots)
        compact(ix);
    if (ix->next < ix->slots) {
        slot_fill(ix, ix->next++, b);
        return;
    }
    /* The list outgrew the slots: index it anew, with more (b is on it). */
    list_index *fresh = index_build(p);
    index_drop(ix);
    p->index = fresh ? &fresh->hooks : NULL; /* no memory: walk from now on */
}

static void index_unfiled(hmm_placement *p, hmm_block *b)
{
    list_index *ix = (list_index *)p->index;
    slot_clear(ix, map_take(ix, b));
}

/* First fit: the walk from the head stops at the highest slot that fits. */
static hmm_block *index_first(hmm_placement *p, size_t size)
{
    list_index *ix = (list_index *)p->index;
    int64_t found = highest_fit(ix, (int64_t)ix->next - 1, size);
    p->examined += found >= 0 ? live_from(ix, (uint64_t)found) : ix->live;
    return found >= 0 ? ix->block[found] : NULL;
}

/* Next fit: the walk from the rover down to the tail, then from the head
 * down to the rover; the rover moves to the block after the one found. */
static hmm_block *index_next(hmm_placement *p, size_t size)
{
    list_index *ix = (list_index *)p->index;
    hmm_block *start = p->rover ? p->rover : p->list;
    if (!start)
        return NULL; /* an empty list */
    uint64_t rover = (uint64_t)map_get(ix, start); /* on the list: it has one */
    int64_t found = highest_fit(ix, (int64_t)rover, size);
    if (found >= 0) {
        p->examined += live_between(ix, (uint64_t)found, rover);
    } else {
        p->examined += live_between(ix, 0, rover);
        if (start != p->list) { /* wrap round: from the head down to the rover */
            found = highest_fit(ix, (int64_t)ix->next - 1, size);
            p->examined += found >= 0 ? live_from(ix, (uint64_t)found) : live_from(ix, rover + 1);
        }
    }
    if (found < 0)
        return NULL;
    hmm_block *b = ix->block[found];
    p->rover = next_of(p, b);
    return b;
}

unsigned list_index_check(const hmm_placement *p)
{
    const list_index *ix = (const list_index *)p->index;
    if (!ix)
        return 0;
    unsigned broken = 0;
    uint64_t live = 0;
    int64_t below = (int64_t)ix->next; /* the slots must fall along the list */
    for (const hmm_block *b = p->list; b; b = next_raw(b), live++) {
        int64_t s = map_get(ix, b);
        if (s < 0)
            return broken + 1; /* a block on the list that the index lost */
        broken += s >= below;  /* out of the list's order */
        broken += ix->block[s] != b || ix->size[s] != block_size(b);
        below = s;
    }
    broken += live != ix->live;
    for (uint64_t g = 0; g < ix->groups; g++)
        broken += ix->group_max[g] != largest_of(&ix->size[g * GROUP], GROUP) ||
                  ix->group_live[g] != (uint32_t)__builtin_popcountll(ix->live_bits[g]);
    for (uint64_t t = 0; t < ix->supers; t++) {
        uint64_t live_in = 0;
        for (uint64_t g = t * GROUP; g < t * GROUP + groups_in(ix, t); g++)
            live_in += ix->group_live[g];
        broken += ix->super_max[t] != largest_of(&ix->group_max[t * GROUP], groups_in(ix, t)) ||
                  ix->super_live[t] != live_in;
    }
    return broken;
}
