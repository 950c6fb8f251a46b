"""Ordinary use of a simulated heap, as a hypothesis state machine to build on.

test_heap_properties.py and test_heap_misuse.py both drive a heap the way a
correct program does, against a model of what a program knows: for each
live block, the bytes it wrote there.  The rules and the model are here,
once; each test module makes its machine with `ordinary_use(...)`, giving
its own size distributions (hypothesis binds a rule's strategies when the
class is made, hence a function that makes the class), and adds its own
rules, invariants and teardown.

This is a plain module, not a test module, so that both can import it under
any import mode: pyproject.toml puts tests/ on sys.path (pytest's
`pythonpath`), which --import-mode=importlib would not do by itself.
"""
import struct

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

KiB = 1024


def pattern(tag, n):
    """n bytes that no other block holds: a tag-derived 8-byte word repeated."""
    word = struct.pack("<Q", (tag * 0x9E3779B97F4A7C15 + 1) & (2**64 - 1))
    return (word * (n // 8 + 1))[:n]


class HeapModel:
    """The model and its helpers.  The machine sets `heap`, `check_level`
    (0 default mode, else check mode) and calls `forget_all` for a new heap."""

    tags = 0

    def forget_all(self):
        self.model = {}          # address -> bytes written there

    def fill(self, address, n):
        self.tags += 1
        content = pattern(self.tags, n)
        self.heap.write(address, content)
        self.model[address] = content

    def verify(self, address):
        content = self.model[address]
        assert self.heap.read(address, len(content)) == content

    def adopt(self, address, n):
        """A new block: not live already, big enough (in check mode exactly
        as big as asked), aligned."""
        assert address not in self.model
        assert address % 16 == 0
        usable = self.heap.usable_size(address)
        assert usable == n if self.check_level else usable >= n
        self.fill(address, n)

    def pick(self, data, label="block"):
        return data.draw(st.sampled_from(sorted(self.model)), label=label)

    def free_one(self, data):
        """Free a live block, checked first; its address."""
        address = self.pick(data)
        self.verify(address)
        self.heap.free(address)
        del self.model[address]
        return address

    def healthy(self, why):
        assert self.heap.check() == 0, f"{why}:\n{self.heap.check_report()}"


def ordinary_use(*, sizes, calloc_sizes, alignments):
    """A RuleBasedStateMachine class with the rules of correct use (malloc,
    calloc, memalign, free, realloc, trim) and the invariants that hold
    after any of them, drawing sizes from the strategies given."""

    class OrdinaryUse(HeapModel, RuleBasedStateMachine):
        @rule(n=sizes)
        def alloc(self, n):
            address = self.heap.alloc(n)
            if address is not None:
                self.adopt(address, n)

        @rule(count=st.integers(0, 40), size=calloc_sizes)
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
        @rule(data=st.data())
        def free(self, data):
            self.free_one(data)

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

        @rule(pad=st.sampled_from([0, 4096, 64 * KiB]))
        def trim(self, pad):
            self.heap.trim(pad)

        @invariant()
        def heap_is_healthy(self):
            self.healthy("the checker")

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
                assert self.heap.read(address + max(0, len(content) - 16),
                                      min(16, len(content))) == content[-16:]

    return OrdinaryUse
