/*
 * placement_segregated.c - two-level segregated fit: O(1) placement; and
 * best fit, over the same size classes (at the end of the file).
 *
 * The idea is TLSF's (Masmano et al., "TLSF: a new dynamic memory allocator
 * for real-time systems", 2004).  Free blocks are filed by size in classes,
 * one LIFO list per class, doubly linked through next_free and prev_free
 * (sealed links: block.h).
 * A bitmap says which classes hold blocks, so finding the smallest
 * non-empty class at or above a size takes two bit scans, never a walk.
 *
 * The classes (SL_COUNT = 32 slices per power of two):
 *
 *   fl  block sizes            sl: the class starts       class width
 *   --  --------------------   ------------------------   -----------
 *    0  [0, 512)               0, 16, 32, ..., 496          16  exact
 *    1  [512, 1 KiB)           512, 528, ..., 1008          16  exact
 *    2  [1 KiB, 2 KiB)         1024, 1056, ..., 2016        32
 *    3  [2 KiB, 4 KiB)         2048, 2112, ..., 4032        64
 *    k  [2^(k+8), 2^(k+9))     2^(k+8) + sl * 2^(k+3)       2^(k+3)
 *   55  [2^63, 2^64)
 *
 * Blocks are multiples of 16 and at least 32, so below 1 KiB every class
 * holds one size (sl 0 and 1 of level 0, sizes 0 and 16, stay empty) and
 * any block in the class fits a request for that size: the sizes most
 * programs ask for get the best fit there is.  Above 1 KiB a class spans
 * 1/32 of its power of two, so rounding a request up to the next class
 * passes over only blocks less than about 3% bigger than it; whichever
 * block is taken, the split gives back what the request does not need.
 *
 * Finding a block for `size`:
 *   1. Look at the head of size's own class.  Above 1 KiB a class mixes
 *      sizes, so its head may be too small; one look keeps this O(1), and
 *      a head that fits is the tightest fit to be had.  Its size is read,
 *      so its seal is checked: a broken one goes to the heap to report.
 *      (Every other block found is returned, and the heap checks it.)
 *   2. Round size up to the next class start, so that every block in the
 *      class found fits ("good fit"), and take the head of the first
 *      non-empty class from there: a scan of that level's bitmap, or of the
 *      first-level bitmap and then one second-level bitmap.
 *   3. Nothing: the heap uses its top block or grows.
 */
#include "placement.h"

#include <stddef.h>

_Static_assert(HMM_SL_COUNT <= 32, "sl_bitmap holds one bit per class in a uint32_t");
_Static_assert(HMM_FL_COUNT <= 64, "fl_bitmap holds one bit per level in a uint64_t");
_Static_assert(sizeof(size_t) * 8 <= HMM_FL_COUNT + HMM_SMALL_SHIFT - 1,
               "the levels cover every size_t");
_Static_assert(HMM_SMALL_LIMIT / HMM_SL_COUNT == HMM_ALIGNMENT,
               "the small classes are one block size each");

typedef struct size_class {
    unsigned fl, sl;
} size_class;

static unsigned log2_floor(size_t n) /* n > 0 */
{
    return (unsigned)(63 - __builtin_clzll((unsigned long long)n));
}

/* The class holding blocks of `size` bytes. */
static size_class class_of(size_t size)
{
    if (size < HMM_SMALL_LIMIT)
        return (size_class){0, (unsigned)(size / HMM_ALIGNMENT)};
    unsigned log2 = log2_floor(size);
    /* The SL_SHIFT bits below the leading one pick the slice. */
    unsigned sl = (unsigned)(size >> (log2 - HMM_SL_SHIFT)) & (HMM_SL_COUNT - 1);
    return (size_class){log2 - HMM_SMALL_SHIFT + 1, sl};
}

/* size rounded up to the start of a class: every block from that class on
 * holds at least size bytes. */
static size_t round_to_class(size_t size)
{
    if (size < HMM_SMALL_LIMIT)
        return size; /* already a class start: the small classes are exact */
    size_t step = (size_t)1 << (log2_floor(size) - HMM_SL_SHIFT);
    return (size + step - 1) & ~(step - 1);
}

static void segregated_insert(hmm_placement *p, hmm_block *b)
{
    size_class c = class_of(block_size(b));
    hmm_block **head = &p->classes[c.fl][c.sl];
    set_prev(b, NULL);
    set_next(b, *head);
    if (*head)
        set_prev(*head, b);
    *head = b;
    p->sl_bitmap[c.fl] |= 1u << c.sl;
    p->fl_bitmap |= (uint64_t)1 << c.fl;
}

static void segregated_remove(hmm_placement *p, hmm_block *b)
{
    hmm_block *next = next_of(p, b);
    hmm_block *prev = prev_of(p, b);
    if (prev) { /* inside its list: its class is not needed */
        if (!links_back(b, next, prev, NULL)) {
            p->on_corrupt(p, b);
            return;
        }
        if (next)
            set_prev(next, prev);
        set_next(prev, next);
        return;
    }
    size_class c = class_of(block_size(b));
    hmm_block **head = &p->classes[c.fl][c.sl];
    if (!links_back(b, next, prev, head)) {
        p->on_corrupt(p, b);
        return;
    }
    if (next)
        set_prev(next, prev);
    *head = next;
    if (next)
        return;
    /* The class is empty now, and maybe its level too. */
    p->sl_bitmap[c.fl] &= ~(1u << c.sl);
    if (!p->sl_bitmap[c.fl])
        p->fl_bitmap &= ~((uint64_t)1 << c.fl);
}

/* Move c to the first non-empty class at or above it; 0 if there is none. */
static int first_class_from(const hmm_placement *p, size_class *c)
{
    uint32_t sl_map = p->sl_bitmap[c->fl] & (~0u << c->sl);
    if (!sl_map) {
        /* Nothing left on this level: the first non-empty level above. */
        uint64_t fl_map = c->fl + 1 < HMM_FL_COUNT ? p->fl_bitmap & (~(uint64_t)0 << (c->fl + 1)) : 0;
        if (!fl_map)
            return 0;
        c->fl = (unsigned)__builtin_ctzll(fl_map);
        sl_map = p->sl_bitmap[c->fl];
    }
    c->sl = (unsigned)__builtin_ctz(sl_map);
    return 1;
}

static hmm_block *segregated_find(hmm_placement *p, size_t size)
{
    size_class own = class_of(size);
    hmm_block *head = p->classes[own.fl][own.sl];
    /* A head whose header is not sealed right is returned too, not passed
     * over for its size: a write after free hit it, and the heap reports
     * it (passed over, it would never be used or reported). */
    if (head) {
        placement_looked(p, head);
        if (block_size(head) >= size || !block_header_ok(head))
            return head;
    }
    size_t rounded = round_to_class(size);
    if (rounded < size)
        return NULL; /* no size_t is that big: nothing could fit */
    size_class c = class_of(rounded);
    if (!first_class_from(p, &c))
        return NULL;
    hmm_block *found = p->classes[c.fl][c.sl];
    placement_looked(p, found);
    return found;
}

/* The smallest block size class c can hold. */
static size_t class_start(size_class c)
{
    if (c.fl == 0)
        return (size_t)c.sl * HMM_ALIGNMENT;
    unsigned log2 = c.fl + HMM_SMALL_SHIFT - 1;
    return ((size_t)1 << log2) + ((size_t)c.sl << (log2 - HMM_SL_SHIFT));
}

/* Best fit's walk of class c: the smallest block of at least size bytes,
 * and of those the first met, which is the newest (the lists are LIFO); or
 * NULL.  A block of `floor` bytes ends the walk, as none after it can be
 * smaller: size itself, or the class's start when every block fits.  A
 * broken header ends it too, returned for the heap to report. */
static hmm_block *smallest_in_class(hmm_placement *p, size_class c, size_t size, size_t floor)
{
    hmm_block *best = NULL;
    size_t left = placement_most_blocks(p);
    for (hmm_block *b = p->classes[c.fl][c.sl]; b; b = next_of(p, b)) {
        if (!left--) { /* a cycle */
            p->on_corrupt(p, b);
            return NULL;
        }
        placement_looked(p, b);
        if (!block_header_ok(b))
            return b;
        size_t have = block_size(b);
        if (have < size || (best && have >= block_size(best)))
            continue;
        best = b;
        if (have == floor)
            break; /* nothing later fits better */
    }
    return best;
}

/*
 * Best fit: the smallest free block big enough, and of equal ones the most
 * recently freed.  That is the block a walk of one LIFO list of every free
 * block would choose (placement_list.c's way, which best fit took before),
 * found here without walking the blocks of the other sizes: every block of
 * a higher class is bigger than any of a lower one, and each class's list
 * keeps the order the one list would have.  So it walks size's own class
 * (below 1 KiB a class is one size: its head fits exactly), and if nothing
 * there fits, the first non-empty class above it.
 */
static hmm_block *best_fit_find(hmm_placement *p, size_t size)
{
    size_class c = class_of(size);
    hmm_block *found = smallest_in_class(p, c, size, size);
    if (found)
        return found;
    if (++c.sl == HMM_SL_COUNT) { /* the class after c */
        c.sl = 0;
        if (++c.fl == HMM_FL_COUNT)
            return NULL;
    }
    if (!first_class_from(p, &c))
        return NULL;
    return smallest_in_class(p, c, size, class_start(c));
}

static void segregated_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx)
{
    size_t left = placement_most_blocks(p); /* a cycle ends the walk */
    for (unsigned fl = 0; fl < HMM_FL_COUNT; fl++)
        for (unsigned sl = 0; sl < HMM_SL_COUNT; sl++)
            for (const hmm_block *b = p->classes[fl][sl]; b && link_plausible(p, b) && left--; b = next_raw(b))
                if (visit((hmm_block *)b, ctx))
                    return;
}

static unsigned segregated_check(const hmm_placement *p)
{
    unsigned broken = 0;
    for (unsigned fl = 0; fl < HMM_FL_COUNT; fl++) {
        for (unsigned sl = 0; sl < HMM_SL_COUNT; sl++) {
            const hmm_block *head = p->classes[fl][sl];
            const hmm_block *prev = NULL;
            size_t left = placement_most_blocks(p);
            for (const hmm_block *b = head; b; prev = b, b = next_raw(b)) {
                if (!link_plausible(p, b) || !left--) {
                    broken++; /* an overwritten link, or a cycle: cannot walk on */
                    break;
                }
                size_class c = class_of(block_size(b));
                broken += prev_raw(b) != prev;         /* the back links disagree */
                broken += block_in_use(b);             /* a block in use is filed */
                broken += c.fl != fl || c.sl != sl;    /* filed in the wrong class */
            }
            broken += !head != !(p->sl_bitmap[fl] & (1u << sl)); /* class bit is wrong */
        }
        broken += !p->sl_bitmap[fl] != !(p->fl_bitmap & ((uint64_t)1 << fl)); /* level bit is wrong */
    }
    if (HMM_FL_COUNT < 64)
        broken += (p->fl_bitmap >> (HMM_FL_COUNT % 64)) != 0; /* bits for no level */
    return broken;
}

const hmm_placement_ops segregated_placement = {
    .name = "segregated",
    .insert = segregated_insert,
    .remove = segregated_remove,
    .find = segregated_find,
    .each = segregated_each,
    .check = segregated_check,
};

/* Best fit files its blocks as segregated fit does: it differs in find. */
const hmm_placement_ops best_fit_placement = {
    .name = "best-fit",
    .insert = segregated_insert,
    .remove = segregated_remove,
    .find = best_fit_find,
    .each = segregated_each,
    .check = segregated_check,
};
