"""Placement policies: which free block serves a request.

The heap's other behaviours are tested under every policy in test_heap.py
and test_heap_properties.py.  Here: choosing a policy, and what each one
picks, on heaps whose free blocks ("holes") have known sizes and sit
between blocks kept in use, so that none merges with another or with the
top.
"""
import random

import pytest

import hmm
from hmm import HeapError

KiB = 1024
MiB = 1024 * KiB
OVERHEAD = 8
MIN_BLOCK = 32


def block_size_for(request):
    return max(MIN_BLOCK, (request + OVERHEAD + 15) // 16 * 16)


def request_for(block_size):
    """The largest request served by a block of exactly `block_size` bytes."""
    return block_size - OVERHEAD


def make_holes(heap, sizes, free_order=None):
    """Free blocks of the given block sizes, in address order, each followed
    by a block kept in use.  They are freed in `free_order` (indexes; by
    default in address order).  Returns their addresses."""
    addresses = []
    for size in sizes:
        addresses.append(heap.alloc(request_for(size)))
        heap.alloc(0)
    for i in free_order if free_order is not None else range(len(sizes)):
        heap.free(addresses[i])
    assert heap.check() == 0
    return addresses


def which_hole(holes, sizes, address):
    """The index of the hole that `address` was carved from, or None."""
    for i, (start, size) in enumerate(zip(holes, sizes)):
        if start <= address < start + size:
            return i
    return None


# ---- choosing a policy ----------------------------------------------------------------


def test_the_policies():
    assert hmm.POLICIES == ("segregated", "first-fit", "next-fit", "best-fit")


def test_segregated_is_the_default():
    assert hmm.Heap(1 * MiB).policy == "segregated"
    assert hmm.POLICIES[0] == "segregated"


@pytest.mark.parametrize("policy", hmm.POLICIES)
def test_policy_at_creation_and_later(policy):
    h = hmm.Heap(1 * MiB, policy=policy)
    assert h.policy == policy
    for other in hmm.POLICIES:
        h.set_policy(other)
        assert h.policy == other
    assert f"policy={other}" in repr(h)


@pytest.mark.parametrize("name", ["worst-fit", "", "First-Fit", "first-fit\0", " segregated",
                                  None, 0, b"first-fit"])
def test_unknown_policy_is_refused(name):
    h = hmm.Heap(1 * MiB, policy="best-fit")
    with pytest.raises(HeapError, match=r"^hmm: set_policy\(\): unknown policy"):
        h.set_policy(name)
    assert h.policy == "best-fit"
    with pytest.raises(HeapError, match=r"^hmm: Heap\(\): unknown policy"):
        hmm.Heap(1 * MiB, policy=name)


def test_switching_policy_keeps_the_free_blocks():
    """Switching re-files every free block: all stay usable under each
    policy, and the checker (which counts misfiled blocks and wrong bitmap
    bits) finds nothing wrong."""
    sizes = [32, 48, 96, 128, 256, 512, 1040, 1104, 4096, 20000] * 3
    for policy in hmm.POLICIES:
        for switch_to in hmm.POLICIES:
            h = hmm.Heap(2 * MiB, policy=policy)
            holes = make_holes(h, sizes, free_order=random.Random(7).sample(range(len(sizes)),
                                                                            len(sizes)))
            free_before = h.stats()["free_blocks"]
            h.set_policy(switch_to)
            assert h.check() == 0, h.check_report()
            assert h.stats()["free_blocks"] == free_before
            # Every hole serves a request of exactly its size, and nothing grows.
            heap_size = h.stats()["heap_size"]
            taken = sorted(h.alloc(request_for(size)) for size in sorted(sizes, reverse=True))
            assert taken == sorted(holes), (policy, switch_to)
            assert h.stats()["heap_size"] == heap_size
            assert h.check() == 0, h.check_report()


def test_switching_policy_in_the_middle_of_a_workload():
    rng = random.Random(11)
    h = hmm.Heap(16 * MiB)
    live = {}
    for step in range(6000):
        if step % 500 == 0:
            h.set_policy(hmm.POLICIES[(step // 500) % len(hmm.POLICIES)])
            assert h.check() == 0, h.check_report()
        if live and rng.random() < 0.5:
            address = rng.choice(list(live))
            assert h.read(address, 8) == live.pop(address)
            h.free(address)
        else:
            address = h.alloc(rng.choice([rng.randint(0, 200), rng.randint(200, 3000),
                                          rng.randint(3000, 40000)]))
            assert address is not None
            live[address] = rng.randbytes(8)
            h.write(address, live[address])
    assert h.check() == 0, h.check_report()


# ---- what each policy picks ---------------------------------------------------------------

# Four holes, in address order A=256, B=96, C=512, D=128 bytes, freed D, A, B,
# C: the free list (LIFO) is then C, B, A, D.  Then three requests, for
# blocks of 112 (a 100-byte request), 96 and 208 bytes.
HOLES = [256, 96, 512, 128]
FREE_ORDER = [3, 0, 1, 2]
REQUESTS = [100, 88, 200]


def picks(policy, requests=REQUESTS):
    h = hmm.Heap(1 * MiB, policy=policy)
    holes = make_holes(h, HOLES, FREE_ORDER)
    chosen = []
    for n in requests:
        address = h.alloc(n)
        hole = which_hole(holes, HOLES, address)
        chosen.append("top" if hole is None else "ABCD"[hole])
        assert h.check() == 0, h.check_report()
    return chosen


def test_first_fit_takes_the_most_recently_freed_that_fits():
    # 112 from C (freed last), then twice from what is left of C, which the
    # split put back at the front of the list.
    assert picks("first-fit") == ["C", "C", "C"]


def test_next_fit_carries_on_after_its_previous_pick():
    # 112 from C as first fit would; then the search resumes after C: B
    # fits 96 exactly, then A takes 208.  Then a 320-byte block fits
    # nothing after A (D is 128), so the search wraps round to the front,
    # where the rest of C (400 bytes) is.
    assert picks("next-fit", REQUESTS + [300]) == ["C", "B", "A", "C"]


def test_best_fit_takes_the_smallest_that_fits():
    assert picks("best-fit") == ["D", "B", "A"]


def test_segregated_takes_a_block_from_the_nearest_class():
    # 112: its class is empty; the first non-empty one above is 128's, so D
    # serves it and the 512 hole is not split.  96: an exact class.  208:
    # the next non-empty class is 256's.
    assert picks("segregated") == ["D", "B", "A"]


@pytest.mark.parametrize("free_order, expected", [
    ([2, 0, 1], "Z"),   # the head of the class is the 1088 hole: too small
    ([2, 1, 0], "Y"),   # the head is Y: it fits
])
def test_segregated_looks_at_one_block_of_a_mixed_class(free_order, expected):
    """Above 1 KiB a class spans 32 bytes or more: 1088 and 1104 share one.
    A request for 1104 looks at that class's head only, to stay O(1): when
    the head is too small it takes the next class's block (Z, 1120 bytes)
    without looking further, though Y fits exactly.  Best fit walks to Y."""
    sizes = [1104, 1088, 1120]          # Y, X, Z in address order
    for policy, want in (("segregated", expected), ("best-fit", "Y")):
        h = hmm.Heap(1 * MiB, policy=policy)
        holes = make_holes(h, sizes, free_order)
        address = h.alloc(request_for(1104))
        assert "YXZ"[which_hole(holes, sizes, address)] == want, policy


# ---- segregated fit at scale ------------------------------------------------------------

# The class layout, as placement_segregated.c draws it: one class per 16
# bytes below 1 KiB, then 32 classes per power of two.
SL_SHIFT = 5


def size_class(size):
    """(first level, second level), ordered as the sizes they hold."""
    if size < 512:
        return (0, size // 16)
    log2 = size.bit_length() - 1
    return (log2 - 8, (size >> (log2 - SL_SHIFT)) & ((1 << SL_SHIFT) - 1))


def round_to_class(size):
    if size < 512:
        return size
    step = 1 << (size.bit_length() - 1 - SL_SHIFT)
    return -(-size // step) * step


class FreeBlocks:
    """The free blocks (top aside) by address and by class, as Python sees them."""

    def __init__(self, heap):
        blocks = heap.walk()
        assert not blocks[-1].used    # the top
        self.size = {}
        self.by_class = {}
        for b in blocks[:-1]:
            if not b.used:
                self.add(b.address, b.size)

    def add(self, address, size):
        self.size[address] = size
        self.by_class.setdefault(size_class(size), set()).add(address)

    def take(self, address):
        size = self.size.pop(address)
        members = self.by_class[size_class(size)]
        members.discard(address)
        if not members:
            del self.by_class[size_class(size)]
        return size

    def first_class_from(self, c):
        """The first non-empty class at or above c, or None."""
        return min((k for k in self.by_class if k >= c), default=None)


def test_segregated_with_many_free_blocks():
    """20,000 holes of assorted sizes.  Every request is served by a block
    from its own class that fits, or from the first non-empty class at or
    above the request rounded up to a class start, or, when there is no
    such class, by the top or new memory: never by a block from a class
    further up."""
    rng = random.Random(2024)

    def assorted():
        pick = rng.random()
        if pick < 0.7:
            return rng.randint(0, 1000)
        if pick < 0.95:
            return rng.randint(1000, 4000)
        return rng.randint(4000, 20000)

    h = hmm.Heap(96 * MiB)
    sizes = [block_size_for(assorted()) for _ in range(20000)]
    make_holes(h, sizes)
    free = FreeBlocks(h)
    assert len(free.size) == 20000

    grew = from_own_class = from_class_above = 0
    for i in range(6000):
        n = assorted() if i % 20 else rng.randint(20000, 60000)  # some fit no hole
        want = block_size_for(n)
        above = free.first_class_from(size_class(round_to_class(want)))
        address = h.alloc(n)
        assert address is not None
        if address not in free.size:
            # Not from a hole: nothing in a class that surely fits.
            assert above is None, (n, above)
            grew += 1
            continue
        size = free.take(address)
        assert size >= want
        if size_class(size) == size_class(want):
            from_own_class += 1
        else:
            assert size_class(size) == above, (n, size, above)
            from_class_above += 1
        if size - want >= MIN_BLOCK:
            free.add(address + want, size - want)   # the tail split off
    assert h.check() == 0, h.check_report()
    assert h.stats()["free_blocks"] == len(free.size) + 1   # and the top
    assert grew and from_own_class and from_class_above


def test_best_fit_with_many_free_blocks():
    """8,000 holes, many of one size, freed in a random order.  Every
    request gets the smallest free block big enough and, of equal ones, the
    one freed last (a split's tail counts as freed when it is split off):
    the block a walk of every free block would choose.  Best fit finds it
    through the size classes, looking at a few blocks a request, not at the
    thousands a walk would."""
    rng = random.Random(2025)

    def assorted():
        pick = rng.random()
        if pick < 0.5:
            return rng.choice((24, 40, 100, 1000, 1500, 3000))   # equal sizes
        if pick < 0.95:
            return rng.randint(0, 4000)
        return rng.randint(4000, 20000)

    h = hmm.Heap(96 * MiB, policy="best-fit")
    sizes = [block_size_for(assorted()) for _ in range(8000)]
    order = list(range(len(sizes)))
    rng.shuffle(order)
    holes = make_holes(h, sizes, order)
    size_at = {b.address: b.size for b in h.walk()}   # a hole may have taken 16 bytes more
    freed = {}                                  # address -> (size, when freed)
    for when, i in enumerate(order):
        freed[holes[i]] = (size_at[holes[i]], when)
    clock = len(order)

    examined = h.stats()["examined_blocks"]
    from_a_hole = 0
    for i in range(3000):
        n = assorted() if i % 20 else rng.randint(20000, 60000)  # some fit no hole
        want = block_size_for(n)
        fits = [(size, -when, address) for address, (size, when) in freed.items() if size >= want]
        address = h.alloc(n)
        if not fits:
            assert address not in freed
            continue
        assert address == min(fits)[2], n
        size, _ = freed.pop(address)
        from_a_hole += 1
        if size - want >= MIN_BLOCK:
            freed[address + want] = (size - want, clock)   # the tail split off
            clock += 1
    assert h.check() == 0, h.check_report()
    assert h.stats()["free_blocks"] == len(freed) + 1   # and the top
    assert from_a_hole > 2500
    looked = h.stats()["examined_blocks"] - examined
    assert looked < 20 * 3000   # a walk: thousands of blocks a request
