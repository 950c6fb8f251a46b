"""Random programs against the allocator core, checked against a model.

The model is what a program knows: for each live block, the size it asked
for and the bytes it wrote.  Whatever the sequence of calls, blocks never
overlap, their bytes survive everything done to other blocks, realloc keeps
the prefix, calloc gives zeros, and the core's checker finds nothing wrong.
The machine runs once per placement policy, and again in check mode (canaries,
fills, and the periodic whole-heap check), where the same must hold.
The rules of ordinary use and the model are heap_machine.py's; this machine
adds realloc(NULL, n), and a misuse of each block it frees now and then.
"""
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

import hmm
from heap_machine import KiB, ordinary_use
from hmm import HeapError

HEAP_BYTES = 4 * 1024 * KiB

small = st.integers(0, 300)
large = st.integers(301, 200 * KiB)
sizes = st.one_of(small, small, large)
calloc_sizes = st.one_of(small, st.integers(0, 5 * KiB))
alignments = st.sampled_from([1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096])


class HeapMachine(ordinary_use(sizes=sizes, calloc_sizes=calloc_sizes, alignments=alignments)):
    def __init__(self, policy, check=0):
        super().__init__()
        self.check_level = check
        self.heap = hmm.Heap(HEAP_BYTES, policy=policy, check=check, check_every=7)
        self.forget_all()

    # free, and now and then free or realloc the freed block again
    @precondition(lambda self: self.model)
    @rule(data=st.data(), again=st.sampled_from([None, "free", "realloc"]))
    def free(self, data, again):
        address = self.free_one(data)
        if again:
            self.misuse_freed(address, again)

    @rule(n=sizes)
    def realloc_null(self, n):
        address = self.heap.realloc(None, n)
        if address is not None:
            self.adopt(address, n)

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
