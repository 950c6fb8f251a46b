/*
 * placement.c - the list of policies, and the dispatch to the heap's.
 *
 * The policy is a field of the heap's placement state (its ops pointer),
 * not a build choice, so one library can run them all and the tests can
 * compare them on the same heap.  Each entry point here calls the heap's
 * policy through its table.
 */
#include "placement.h"

#include "format.h"

#include <string.h>

/* The policies, default first: one row each, `NAME_placement` defined in
 * the policy's file.  Their order is the order hmm_policy_name() (and
 * Python's hmm.POLICIES) lists them in. */
#define HMM_PLACEMENTS(X) X(segregated) X(first_fit) X(next_fit) X(best_fit)

#define HMM_PLACEMENT_DECLARE(id) extern const hmm_placement_ops id##_placement;
HMM_PLACEMENTS(HMM_PLACEMENT_DECLARE)
#undef HMM_PLACEMENT_DECLARE

static const hmm_placement_ops *const policies[] = {
#define HMM_PLACEMENT_ROW(id) &id##_placement,
    HMM_PLACEMENTS(HMM_PLACEMENT_ROW)
#undef HMM_PLACEMENT_ROW
};
#define POLICY_COUNT ((int)(sizeof policies / sizeof *policies))

static void ignore_corruption(hmm_placement *p, hmm_block *b)
{
    (void)p;
    (void)b;
}

void placement_init(hmm_placement *p, const hmm_placement_ops *ops)
{
    uintptr_t low = p->low, high = p->high;
    void (*on_corrupt)(hmm_placement *, hmm_block *) = p->on_corrupt;
    memset(p, 0, sizeof *p); /* (a watch too: hmm_replay_watch again after a new policy) */
    p->ops = ops ? ops : policies[0];
    p->low = low;
    p->high = high;
    p->on_corrupt = on_corrupt ? on_corrupt : ignore_corruption;
    if (p->ops->init)
        p->ops->init(p);
}

void placement_add_bounds(hmm_placement *p, uintptr_t low, uintptr_t high)
{
    if (!p->high || low < p->low)
        p->low = low;
    if (high > p->high)
        p->high = high;
}


static int known_policy(const hmm_placement_ops *ops)
{
    for (int i = 0; i < POLICY_COUNT; i++)
        if (ops == policies[i])
            return 1;
    return 0;
}

void placement_each(const hmm_placement *p, int (*visit)(hmm_block *b, void *ctx), void *ctx)
{
    if (known_policy(p->ops)) /* an overwritten ops pointer is not followed */
        p->ops->each(p, visit, ctx);
}

unsigned placement_check(const hmm_placement *p)
{
    if (!known_policy(p->ops))
        return 1; /* no such policy: its structure cannot be read */
    return p->ops->check(p);
}

const hmm_placement_ops *placement_policy(int index)
{
    return index >= 0 && index < POLICY_COUNT ? policies[index] : NULL;
}

const hmm_placement_ops *placement_policy_from_name(const char *name)
{
    for (int i = 0; name && i < POLICY_COUNT; i++)
        if (strcmp(name, policies[i]->name) == 0)
            return policies[i];
    return NULL;
}

void placement_policy_list(char *buf, size_t size)
{
    hmm_text t;
    text_init(&t, buf, size);
    for (int i = 0; i < POLICY_COUNT; i++) {
        if (i)
            text_str(&t, ", ");
        text_str(&t, policies[i]->name);
    }
}
