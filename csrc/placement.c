/*
 * placement.c - the policy switch: which placement code serves a heap.
 *
 * The policy is a field of the heap's placement state, not a build choice,
 * so one library can run them all and the tests can compare them on the
 * same heap.  Each entry point here only picks the policy's function:
 * placement_list.c holds the three policies over one free list,
 * placement_segregated.c the segregated fit.
 */
#include "placement.h"

#include <string.h>

static const char *const policy_names[HMM_POLICY_COUNT] = {
    [HMM_POLICY_SEGREGATED] = "segregated",
    [HMM_POLICY_FIRST_FIT] = "first-fit",
    [HMM_POLICY_NEXT_FIT] = "next-fit",
    [HMM_POLICY_BEST_FIT] = "best-fit",
};

static int uses_list(const hmm_placement *p)
{
    return p->policy != HMM_POLICY_SEGREGATED;
}

static void ignore_corruption(hmm_placement *p, hmm_block *b)
{
    (void)p;
    (void)b;
}

void placement_init(hmm_placement *p, hmm_policy policy)
{
    uintptr_t low = p->low, high = p->high;
    void (*on_corrupt)(hmm_placement *, hmm_block *) = p->on_corrupt;
    memset(p, 0, sizeof *p);
    p->policy = (unsigned)policy < HMM_POLICY_COUNT ? policy : HMM_POLICY_SEGREGATED;
    p->low = low;
    p->high = high;
    p->on_corrupt = on_corrupt ? on_corrupt : ignore_corruption;
}

void placement_add_bounds(hmm_placement *p, uintptr_t low, uintptr_t high)
{
    if (!p->high || low < p->low)
        p->low = low;
    if (high > p->high)
        p->high = high;
}

void placement_insert(hmm_placement *p, hmm_block *b)
{
    if (uses_list(p))
        list_insert(p, b);
    else
        segregated_insert(p, b);
}

void placement_remove(hmm_placement *p, hmm_block *b)
{
    if (uses_list(p))
        list_remove(p, b);
    else
        segregated_remove(p, b);
}

hmm_block *placement_find(hmm_placement *p, size_t size)
{
    switch (p->policy) {
    case HMM_POLICY_FIRST_FIT:
        return list_find_first(p, size);
    case HMM_POLICY_NEXT_FIT:
        return list_find_next(p, size);
    case HMM_POLICY_BEST_FIT:
        return list_find_best(p, size);
    default:
        return segregated_find(p, size);
    }
}

void placement_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx)
{
    if (uses_list(p))
        list_each(p, visit, ctx);
    else
        segregated_each(p, visit, ctx);
}

unsigned placement_check(const hmm_placement *p)
{
    unsigned broken = (unsigned)p->policy >= HMM_POLICY_COUNT; /* no such policy */
    return broken + (uses_list(p) ? list_check(p) : segregated_check(p));
}

const char *placement_policy_name(hmm_policy policy)
{
    return (unsigned)policy < HMM_POLICY_COUNT ? policy_names[policy] : NULL;
}

hmm_policy placement_policy_from_name(const char *name)
{
    for (int i = 0; name && i < HMM_POLICY_COUNT; i++)
        if (strcmp(name, policy_names[i]) == 0)
            return (hmm_policy)i;
    return HMM_POLICY_COUNT;
}
