"""Random programs against the allocator core, checked against a model.

The model is what a program knows: for each live block, the size it asked
for and the bytes it wrote.  Whatever the sequence of calls, blocks never
overlap, their bytes survive everything done to other blocks, realloc keeps
the prefix, calloc gives zeros, and the core's checker finds nothing wrong.
The machine runs once per placement policy, and again in check mode (canaries,
fills, and the periodic whole-heap check), where the same must hold.
"""
import struct

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition,
                                 rule, run_state_machine_as_test)

import hmm
from hmm import HeapError

KiB = 1024
HEAP_BYTES = 4 * 1024 * KiB

small = st.integers(0, 300)
large = st.integers(301, 200 * KiB)
sizes = st.one_of(small, small, large)
alignments = st.sampled_from([1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096])


def pattern(tag, n):
    """n bytes that no other block holds: a tag-derived 8-byte word repeated."""
    word = struct.pack("<Q", (tag * 0x9E3779B97F4A7C15 + 1) & (2**64 - 1))
    return (word * (n // 8 + 1))[:n]


class HeapMachine(RuleBasedStateMachine):
    def __init__(self, policy, check=0):
        super().__init__()
        self.heap = hmm.Heap(HEAP_BYTES, policy=policy, check=check, check_every=7)
        self.model = {}          # address -> bytes written there
        self.tags = 0

    # ---- helpers --------------------------------------------------------

    def fill(self, address, n):
        self.tags += 1
        content = pattern(self.tags, n)
        self.heap.write(address, content)
        self.model[address] = content

    def verify(self, address):
        content = self.model[address]
        assert self.heap.read(address, len(content)) == content

    def adopt(self, address, n):
        """A new block: not live already, big enough, aligned."""
        assert address not in self.model
        assert address % 16 == 0
        assert self.heap.usable_size(address) >= n
        self.fill(address, n)

    def pick(self, data):
        return data.draw(st.sampled_from(sorted(self.model)), label="block")

    # ---- rules ----------------------------------------------------------

    @rule(n=sizes)
    def alloc(self, n):
        address = self.heap.alloc(n)
        if address is not None:
            self.adopt(address, n)

    @rule(count=st.integers(0, 40), size=st.one_of(small, st.integers(0, 5 * KiB)))
    def calloc(self, count, size):
        address = self.heap.calloc(count, size)
        if address is not None:
            assert self.heap.read(address, count * size) == bytes(count * size)
            self.adopt(address, count * size)

    @rule(alignment=alignments, n=sizes)
    def memalign(self, alignment, n):
        address = self.heap.memalign(alignment, n)
        if address is not None:
            assert address % alignment == 0
            self.adopt(address, n)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), again=st.sampled_from([None, "free", "realloc"]))
    def free(self, data, again):
        address = self.pick(data)
        self.verify(address)
        self.heap.free(address)
        del self.model[address]
        if again:
            self.misuse_freed(address, again)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), n=sizes)
    def realloc(self, data, n):
        address = self.pick(data)
        self.verify(address)
        old = self.model[address]
        new = self.heap.realloc(address, n)
        if n == 0:
            assert new is None
            del self.model[address]
            return
        if new is None:               # failed: the old block is untouched
            self.verify(address)
            return
        del self.model[address]
        keep = min(len(old), n)
        assert self.heap.read(new, keep) == old[:keep]
        self.adopt(new, n)

    @rule(n=sizes)
    def realloc_null(self, n):
        address = self.heap.realloc(None, n)
        if address is not None:
            self.adopt(address, n)

    @rule(pad=st.sampled_from([0, 4096, 64 * KiB]))
    def trim(self, pad):
        self.heap.trim(pad)

    def misuse_freed(self, address, call):
        """Freeing (or reallocating) what was just freed is caught, and
        changes nothing."""
        before = self.heap.stats()["blocks_in_use"]
        try:
            if call == "realloc":
                self.heap.realloc(address, 10)
            else:
                self.heap.free(address)
        except HeapError as exc:
            # the header the free left behind is sealed: named exactly
            assert exc.fault == ("double_free" if call == "free" else "use_after_free")
            assert str(exc).startswith(f"hmm: {call}(): ")
            assert f"{address:#x}" in str(exc)
        else:
            raise AssertionError(f"{call}() of the just freed {address:#x} was not caught")
        assert self.heap.stats()["blocks_in_use"] == before

    # ---- invariants -------------------------------------------------------

    @invariant()
    def healthy(self):
        assert self.heap.check() == 0, self.heap.check_report()

    @invariant()
    def blocks_match_the_model(self):
        used = {b.address: b for b in self.heap.walk() if b.used}
        assert sorted(used) == sorted(self.model)
        assert self.heap.stats()["blocks_in_use"] == len(self.model)
        end = 0
        for address in sorted(self.model):
            assert address >= end, "live blocks overlap"
            end = address + used[address].usable
            content = self.model[address]
            # The ends of every block, where a header written by mistake
            # would land; the whole block is compared on free and realloc.
            assert self.heap.read(address, min(16, len(content))) == content[:16]
            assert self.heap.read(address + len(content) - 16 if len(content) > 16 else address,
                                  min(16, len(content))) == content[-16:]

    def teardown(self):
        if self.heap.check():
            return   # a step already failed on this broken heap
        for address in sorted(self.model):
            self.verify(address)
        # Every other block first, so that the rest merge with both
        # neighbours as they go; each free is followed by a misuse of it.
        order = sorted(self.model)
        for i, address in enumerate(order[1::2] + order[::2]):
            self.heap.free(address)
            self.misuse_freed(address, ("free", "realloc")[i % 2])
        assert self.heap.check() == 0, self.heap.check_report()
        stats = self.heap.stats()
        assert stats["blocks_in_use"] == 0 and stats["bytes_in_use"] == 0
        assert all(not b.used for b in self.heap.walk())


SETTINGS = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("policy", hmm.POLICIES)
def test_heap_properties(policy):
    run_state_machine_as_test(lambda: HeapMachine(policy), settings=SETTINGS)


@pytest.mark.parametrize("policy, check", [("segregated", 1), ("segregated", 2), ("first-fit", 1)])
def test_heap_properties_in_check_mode(policy, check):
    run_state_machine_as_test(lambda: HeapMachine(policy, check), settings=SETTINGS)
