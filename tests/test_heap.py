"""The allocator core's behaviours, seen through hmm.Heap.

Every heap here is a CheckedHeap: after each operation (also one that
raises) it asserts that the core's own checker finds nothing wrong and that
the block list, read independently in Python, is well formed.  Every test
that uses a heap runs once per placement policy (the `policy` fixture):
what is asserted here holds whichever free block serves a request.
"""
import pytest

import hmm
from hmm import HeapError

KiB = 1024
MiB = 1024 * KiB

HEADER = 16            # block header: prev_size + size words
OVERHEAD = 8           # what an in-use block costs
MIN_BLOCK = 32
SEGMENT_OVERHEAD = 32 + 16   # segment header + end marker
PAGE = 4096
GROW_MIN = 64 * KiB    # the simulated heap's least break move
TRIM_THRESHOLD = 256 * KiB
TOP_PAD = 64 * KiB


def block_size_for(request):
    return max(MIN_BLOCK, (request + OVERHEAD + 15) // 16 * 16)


def walk_problems(blocks):
    """What is wrong with a block list, independently of the core."""
    problems = []
    for b in blocks:
        if b.size < MIN_BLOCK or b.size % 16:
            problems.append(f"bad size {b}")
        if b.usable != (b.size - OVERHEAD if b.used else 0):
            problems.append(f"bad usable {b}")
        if b.address % 16:
            problems.append(f"misaligned {b}")
    for before, after in zip(blocks, blocks[1:]):
        if after.address < before.address + before.size:
            problems.append(f"overlap {before} {after}")
        if after.address == before.address + before.size and not before.used and not after.used:
            problems.append(f"adjacent free blocks {before} {after}")
    return problems


class CheckedHeap(hmm.Heap):
    """A Heap that checks itself after every operation."""

    def verify(self):
        report = self.check_report()
        assert self.check() == 0, report
        assert report == ""
        blocks = self.walk()
        assert walk_problems(blocks) == []
        stats = self.stats()
        used = [b for b in blocks if b.used]
        free = [b for b in blocks if not b.used]
        assert stats["blocks_in_use"] == len(used)
        assert stats["bytes_in_use"] == sum(b.size for b in used)
        assert stats["free_blocks"] == len(free)
        assert stats["free_bytes"] == sum(b.size for b in free)
        assert stats["largest_free_block"] == max((b.size for b in free), default=0)


def _checked(name):
    def method(self, *args, **kwargs):
        try:
            return getattr(hmm.Heap, name)(self, *args, **kwargs)
        finally:
            self.verify()

    method.__name__ = name
    return method


for _name in ("alloc", "calloc", "realloc", "memalign", "free", "usable_size",
              "trim", "read", "write"):
    setattr(CheckedHeap, _name, _checked(_name))


@pytest.fixture(params=hmm.POLICIES)
def policy(request):
    return request.param


@pytest.fixture
def new_heap(policy):
    """new_heap(size, **kw) -> a CheckedHeap under this test's policy."""
    def make(size, **kw):
        h = CheckedHeap(size, policy=policy, **kw)
        assert h.policy == policy
        h.verify()
        return h

    return make


@pytest.fixture
def heap(new_heap):
    return new_heap(4 * MiB)


def blocks(h):
    return [(b.used, b.size) for b in h.walk()]


def block_at(h, address):
    (block,) = [b for b in h.walk() if b.address == address]
    return block


# ---- creation ---------------------------------------------------------------


@pytest.mark.parametrize("misalign", [0, 1, 7, 8, 15])
def test_any_buffer_alignment(new_heap, misalign):
    h = new_heap(1 * MiB, misalign=misalign)
    assert h.address % 16 == misalign
    pointers = [h.alloc(n) for n in (1, 50, 3000)]
    assert all(p % 16 == 0 for p in pointers)
    for p in pointers:
        h.free(p)
    assert h.stats()["blocks_in_use"] == 0


@pytest.mark.parametrize("size", [0, -1, 1 << 64])
def test_bad_heap_size(size):
    with pytest.raises(HeapError):
        hmm.Heap(size)


def test_heap_too_small():
    with pytest.raises(HeapError, match="too small"):
        hmm.Heap(100)


@pytest.mark.parametrize("size", ["4096", 4096.0, True, None])
def test_heap_size_not_int(size):
    with pytest.raises(HeapError):
        hmm.Heap(size)


def test_fresh_heap_is_empty(new_heap):
    h = new_heap(1 * MiB)
    stats = h.stats()
    assert stats["blocks_in_use"] == 0
    assert stats["alloc_calls"] == 0
    assert h.trim() is False


# ---- allocation and splitting -------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 23, 24, 25, 40, 100, 1000, 4096, 70000])
def test_alloc_aligned_and_sized(heap, n):
    p = heap.alloc(n)
    assert p is not None and p % 16 == 0
    assert heap.usable_size(p) == block_size_for(n) - OVERHEAD
    assert heap.usable_size(p) >= n
    assert block_at(heap, p) == hmm.Block(p, block_size_for(n), block_size_for(n) - OVERHEAD,
                                          True, p - heap.start)


def test_alloc_zero_gives_unique_blocks(heap):
    a, b = heap.alloc(0), heap.alloc(0)
    assert a is not None and b is not None and a != b
    assert heap.usable_size(a) == MIN_BLOCK - OVERHEAD


def test_split_on_allocation(heap):
    a = heap.alloc(100)
    heap_size = heap.stats()["heap_size"]
    assert heap_size == GROW_MIN
    first, rest = heap.walk()
    assert (first.address, first.size, first.used) == (a, 112, True)
    assert not rest.used
    assert rest.address == a + 112
    assert first.size + rest.size == heap_size - SEGMENT_OVERHEAD
    # The next allocation is carved from the remainder, right after a.
    b = heap.alloc(40)
    assert b == a + 112
    assert blocks(heap) == [(True, 112), (True, 48), (False, heap_size - SEGMENT_OVERHEAD - 160)]


def test_first_block_offset(heap):
    a = heap.alloc(10)
    (first, _) = heap.walk()
    assert first.offset == a - heap.start == 32 + HEADER  # after the segment header
    assert heap.start == heap.stats()["heap_start"]


def test_the_freed_block_is_reused(heap):
    a = heap.alloc(200)
    heap.alloc(200)
    heap.free(a)
    assert heap.alloc(100) == a          # the only free block that fits, split
    assert heap.alloc(50) == a + 112     # the tail of the split


# ---- coalescing -------------------------------------------------------------------


def _four(heap):
    pointers = [heap.alloc(100) for _ in range(4)]   # the 4th guards the top
    for p, q in zip(pointers, pointers[1:]):
        assert q == p + 112
    return pointers


def test_coalesce_with_next(heap):
    a, b, c, guard = _four(heap)
    heap.free(b)
    heap.free(a)   # b, a's next neighbour, is free
    merged = block_at(heap, a)
    assert (merged.used, merged.size) == (False, 224)
    assert blocks(heap)[:3] == [(False, 224), (True, 112), (True, 112)]
    assert heap.stats()["free_blocks"] == 2   # the merged block and the top


def test_coalesce_with_previous(heap):
    a, b, c, guard = _four(heap)
    heap.free(a)
    heap.free(b)   # a, b's previous neighbour, is free
    assert blocks(heap)[:3] == [(False, 224), (True, 112), (True, 112)]
    assert heap.stats()["free_blocks"] == 2


def test_coalesce_with_both(heap):
    a, b, c, guard = _four(heap)
    heap.free(a)
    heap.free(c)
    assert heap.stats()["free_blocks"] == 3
    heap.free(b)
    assert blocks(heap)[:2] == [(False, 336), (True, 112)]
    assert heap.stats()["free_blocks"] == 2
    assert heap.alloc(320) == a   # the merged block serves a bigger request


def test_coalesce_with_top(heap):
    a, b, c, guard = _four(heap)
    heap.free(guard)
    heap.free(b)
    heap.free(c)   # merges with b and with the free top
    assert [used for used, _ in blocks(heap)] == [True, False]
    assert heap.stats()["free_blocks"] == 1


# ---- growing and giving back ---------------------------------------------------------


def test_break_grows_in_chunks_and_trims_back(new_heap):
    h = new_heap(8 * MiB)
    pointers, sizes = [], []
    for _ in range(300):
        pointers.append(h.alloc(4000))
        stats = h.stats()
        sizes.append(stats["heap_size"])
        assert stats["heap_end"] <= stats["heap_break"]
        assert stats["heap_break"] - stats["heap_start"] >= stats["heap_size"]
    assert None not in pointers
    steps = [b - a for a, b in zip(sizes, sizes[1:]) if b != a]
    assert steps and all(step >= GROW_MIN and step % PAGE == 0 for step in steps)
    stats = h.stats()
    assert 0 < stats["grow_calls"] < len(pointers) / 10
    assert stats["grow_calls"] == len(steps) + 1
    assert stats["segments"] == 1
    grown = stats["heap_size"]
    grown_break = stats["heap_break"]
    assert grown >= 300 * 4016 and grown == stats["peak_heap_size"]

    for p in reversed(pointers):
        h.free(p)
    stats = h.stats()
    assert stats["trim_calls"] > 0
    assert stats["heap_size"] < grown
    assert stats["heap_break"] < grown_break
    assert stats["peak_heap_size"] == grown
    # What is left at the top is about the pad that free() keeps.
    assert stats["heap_size"] <= TRIM_THRESHOLD + PAGE

    trims = stats["trim_calls"]
    assert h.trim(0) is True
    after = h.stats()
    assert after["trim_calls"] == trims + 1
    assert after["heap_size"] < stats["heap_size"]
    assert h.trim(0) is False
    # And it grows again when asked.
    assert h.alloc(100 * KiB) is not None
    assert h.stats()["heap_size"] > after["heap_size"]


def test_small_frees_do_not_trim(heap):
    pointers = [heap.alloc(1000) for _ in range(20)]
    for p in pointers:
        heap.free(p)
    assert heap.stats()["trim_calls"] == 0


def test_trim_keeps_pad(new_heap):
    h = new_heap(4 * MiB)
    p = h.alloc(1 * MiB)
    h.alloc(10)                  # keeps p off the top
    q = h.alloc(150 * KiB)        # small enough not to trim on free
    h.free(q)
    assert h.stats()["trim_calls"] == 0
    before = h.stats()["heap_size"]
    assert h.trim(128 * KiB) is True
    after = h.stats()["heap_size"]
    assert after < before
    top = h.walk()[-1]
    assert not top.used and top.size >= 128 * KiB
    h.free(p)


# ---- realloc -------------------------------------------------------------------------


def pattern(n, seed=1):
    return bytes((seed * 31 + i * 7) & 0xFF for i in range(n))


def test_realloc_shrinks_in_place(heap):
    a = heap.alloc(1000)
    guard = heap.alloc(10)
    heap.write(a, pattern(1000))
    assert heap.realloc(a, 100) == a
    assert heap.usable_size(a) == block_size_for(100) - OVERHEAD
    assert heap.read(a, 100) == pattern(1000)[:100]
    # The tail became a free block between a and the guard.
    assert blocks(heap)[:3] == [(True, 112), (False, 1008 - 112), (True, 32)]
    assert block_at(heap, guard).used


def test_realloc_shrink_by_less_than_a_block_keeps_size(heap):
    a = heap.alloc(100)
    assert heap.realloc(a, 90) == a
    assert heap.usable_size(a) == 104


def test_realloc_grows_in_place_into_free_next(heap):
    a, b, guard = heap.alloc(100), heap.alloc(100), heap.alloc(100)
    heap.write(a, pattern(100, 2))
    heap.free(b)
    assert heap.realloc(a, 180) == a
    assert heap.usable_size(a) == block_size_for(180) - OVERHEAD
    assert heap.read(a, 100) == pattern(100, 2)
    # 224 bytes merged, 192 kept, 32 split off as a free block.
    assert blocks(heap)[:3] == [(True, 192), (False, 32), (True, 112)]


def test_realloc_grows_in_place_at_the_top(heap):
    a = heap.alloc(100)
    heap.write(a, pattern(100, 3))
    assert heap.realloc(a, 5000) == a
    assert heap.read(a, 100) == pattern(100, 3)


def test_realloc_moves_and_keeps_content(heap):
    a, b = heap.alloc(100), heap.alloc(100)
    heap.write(a, pattern(104, 4))
    c = heap.realloc(a, 1000)
    assert c not in (None, a)
    assert heap.read(c, 104) == pattern(104, 4)
    assert heap.usable_size(c) >= 1000
    assert not block_at(heap, a).used
    with pytest.raises(HeapError):
        heap.read(a)
    assert heap.read(b, 0) == b""


def test_realloc_null_allocates_and_zero_frees(heap):
    a = heap.realloc(None, 50)
    assert a is not None and heap.usable_size(a) >= 50
    stats = heap.stats()
    assert stats["realloc_calls"] == 1 and stats["alloc_calls"] == 0
    assert heap.realloc(a, 0) is None
    assert heap.stats()["blocks_in_use"] == 0


def test_realloc_failure_keeps_the_block(new_heap):
    h = new_heap(256 * KiB)
    a = h.alloc(100)
    h.write(a, pattern(100, 5))
    assert h.realloc(a, 10 * MiB) is None
    assert h.read(a, 100) == pattern(100, 5)
    assert h.stats()["failed_calls"] == 1
    h.free(a)


# ---- calloc ----------------------------------------------------------------------------


def test_calloc_zeroes_reused_memory(heap):
    a = heap.alloc(200)
    guard = heap.alloc(10)
    heap.write(a, b"\xff" * heap.usable_size(a))
    heap.free(a)
    c = heap.calloc(10, 20)
    assert c == a
    assert heap.read(c) == bytes(heap.usable_size(c))
    heap.free(guard)


def test_calloc_overflow_fails(heap):
    assert heap.calloc(1 << 62, 8) is None
    assert heap.calloc(1 << 33, 1 << 33) is None
    stats = heap.stats()
    assert stats["failed_calls"] == 2 and stats["calloc_calls"] == 2


def test_calloc_zero(heap):
    a = heap.calloc(0, 10)
    assert a is not None and heap.usable_size(a) == MIN_BLOCK - OVERHEAD


# ---- exhaustion ----------------------------------------------------------------------


def test_exhaustion_returns_none_and_recovers(new_heap):
    h = new_heap(512 * KiB)
    pointers = []
    while True:
        p = h.alloc(10 * KiB)
        if p is None:
            break
        pointers.append(p)
        assert len(pointers) < 100
    assert len(pointers) >= 40
    assert h.stats()["failed_calls"] == 1
    assert h.alloc(1 << 40) is None
    assert h.alloc((1 << 64) - 1) is None
    assert h.stats()["failed_calls"] == 3
    small = h.alloc(100)         # what is left still serves small requests
    assert small is not None
    h.free(small)
    for p in pointers[::2]:
        h.free(p)
    again = h.alloc(10 * KiB)
    assert again in pointers[::2]
    for p in pointers[1::2]:
        h.free(p)
    h.free(again)
    # Everything coalesced: one request for most of the heap succeeds.
    big = h.alloc(len(pointers) * 10 * KiB)
    assert big is not None
    h.free(big)


# ---- memalign ------------------------------------------------------------------------


@pytest.mark.parametrize("alignment", [1, 2, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096])
def test_memalign(heap, alignment):
    heap.alloc(24)   # so that the natural address is not already aligned
    p = heap.memalign(alignment, 100)
    assert p is not None and p % max(alignment, 16) == 0
    assert heap.usable_size(p) >= 100
    heap.write(p, pattern(100, 6))
    q = heap.memalign(alignment, 3000)
    assert q % max(alignment, 16) == 0 and q != p
    assert heap.read(p, 100) == pattern(100, 6)
    heap.free(p)
    heap.free(q)
    assert heap.stats()["memalign_calls"] == 2


def test_memalign_rounds_odd_alignment_up(heap):
    heap.alloc(24)
    p = heap.memalign(48, 10)
    assert p % 64 == 0


def test_memalign_gives_back_the_lead_and_tail(heap):
    pointers = [heap.memalign(4096, 10) for _ in range(5)]
    assert all(p % 4096 == 0 for p in pointers)
    # Only a tail too small to be a block of its own may stay attached.
    assert all(block_at(heap, p).size < 2 * MIN_BLOCK for p in pointers)
    for p in pointers:
        heap.free(p)


# ---- misuse ----------------------------------------------------------------------


def fault_of(excinfo):
    return excinfo.value.fault, str(excinfo.value)


def test_double_free(heap):
    a = heap.alloc(40)
    heap.alloc(40)
    heap.free(a)
    with pytest.raises(HeapError) as excinfo:
        heap.free(a)
    fault, message = fault_of(excinfo)
    assert fault == "double_free"
    assert message.startswith("hmm: free(): ")
    assert "double free" in message and f"{a:#x}" in message
    assert "\n" not in message
    assert heap.stats()["blocks_in_use"] == 1


def test_realloc_of_freed_block(heap):
    a = heap.alloc(40)
    heap.alloc(40)
    heap.free(a)
    with pytest.raises(HeapError) as excinfo:
        heap.realloc(a, 100)
    fault, message = fault_of(excinfo)
    assert fault == "use_after_free"
    assert message == f"hmm: realloc(): use after free of {a:#x} (block of 48 bytes)"


def test_usable_size_of_freed_block(heap):
    a = heap.alloc(40)
    heap.alloc(40)
    heap.free(a)
    with pytest.raises(HeapError, match=r"malloc_usable_size\(\)"):
        heap.usable_size(a)


def test_free_of_pointer_outside_the_heap(heap):
    for address in (0x1000, 12345, heap.address + heap.size, heap.address - 16):
        with pytest.raises(HeapError) as excinfo:
            heap.free(address)
        fault, message = fault_of(excinfo)
        assert fault == "invalid_pointer"
        assert message.startswith("hmm: free(): ") and f"{address:#x}" in message


def test_free_of_pointer_into_the_control_block(heap):
    heap.alloc(10)
    address = heap.address + 64   # in the buffer, but no segment holds it
    with pytest.raises(HeapError) as excinfo:
        heap.free(address)
    fault, message = fault_of(excinfo)
    assert fault == "invalid_pointer"
    assert message.startswith("hmm: free(): ") and f"{address:#x}" in message


@pytest.mark.parametrize("delta", [16, 32, 48, 1, 8])
def test_free_of_interior_pointer(heap, delta):
    a = heap.calloc(1, 200)
    heap.alloc(10)
    before = heap.stats()
    with pytest.raises(HeapError) as excinfo:
        heap.free(a + delta)
    fault, message = fault_of(excinfo)
    assert fault == "invalid_pointer"
    assert message.startswith("hmm: free(): ") and f"{a + delta:#x}" in message
    after = heap.stats()
    assert after["blocks_in_use"] == before["blocks_in_use"]
    assert after["bytes_in_use"] == before["bytes_in_use"]
    heap.free(a)   # the real block is still fine


def test_free_of_never_allocated_space(heap):
    a = heap.alloc(10)
    with pytest.raises(HeapError) as excinfo:
        heap.free(a + 4096)   # inside the free top block
    assert excinfo.value.fault == "invalid_pointer"


def test_misuse_leaves_the_heap_working(heap):
    a = heap.alloc(100)
    heap.free(a)
    for _ in range(3):
        with pytest.raises(HeapError):
            heap.free(a)
    b = heap.alloc(100)
    assert b == a
    heap.free(b)


def test_free_none_is_a_no_op(heap):
    heap.free(None)
    assert heap.usable_size(None) == 0
    assert heap.stats()["free_calls"] == 0


@pytest.mark.parametrize("call, args", [
    ("alloc", (-1,)),
    ("alloc", (1.5,)),
    ("alloc", ("10",)),
    ("alloc", (True,)),
    ("alloc", (1 << 64,)),
    ("calloc", (-1, 10)),
    ("calloc", (10, -1)),
    ("realloc", (None, -5)),
    ("memalign", (-16, 10)),
    ("memalign", (16, -1)),
    ("free", ("0x1000",)),
    ("free", (1.0,)),
    ("free", (-16,)),
    ("trim", (-1,)),
    ("usable_size", (3.0,)),
])
def test_bad_arguments_are_refused_before_the_core(heap, call, args):
    before = heap.stats()
    with pytest.raises(HeapError) as excinfo:
        getattr(heap, call)(*args)
    assert excinfo.value.fault in (None, "invalid_pointer")
    assert str(excinfo.value).startswith("hmm: ")
    assert heap.stats() == before   # nothing reached the core


def test_heap_error_is_a_value_error():
    assert issubclass(HeapError, ValueError)


# ---- reading and writing -------------------------------------------------------------


def test_read_write_inside_a_block(heap):
    a = heap.alloc(100)
    usable = heap.usable_size(a)
    heap.write(a, b"hello")
    heap.write(a + 10, bytearray(b"world"))
    heap.write(a + usable - 3, memoryview(b"end"))
    assert heap.read(a, 5) == b"hello"
    assert heap.read(a + 10, 5) == b"world"
    assert heap.read(a + usable - 3) == b"end"
    assert len(heap.read(a)) == usable
    assert heap.read(a + usable - 1, 1) == b"d"
    heap.write(a, b"")


def test_read_write_outside_a_block(heap):
    a = heap.alloc(100)
    usable = heap.usable_size(a)
    b = heap.alloc(100)
    with pytest.raises(HeapError, match="past the end"):
        heap.read(a, usable + 1)
    with pytest.raises(HeapError, match="past the end"):
        heap.write(a + usable - 2, b"abc")
    with pytest.raises(HeapError, match="not inside a block in use"):
        heap.read(a - 8, 4)           # the header
    with pytest.raises(HeapError, match="not inside a block in use"):
        heap.read(a + usable, 1)      # b's header
    with pytest.raises(HeapError, match="not inside a block in use"):
        heap.read(heap.address, 1)    # the control block
    with pytest.raises(HeapError, match="not inside a block in use"):
        heap.read(0x10, 1)
    heap.free(b)
    with pytest.raises(HeapError, match="not inside a block in use"):
        heap.read(b, 1)
    with pytest.raises(HeapError, match="not inside a block in use"):
        heap.write(b, b"x")
    with pytest.raises(HeapError):
        heap.write(a, "text")
    with pytest.raises(HeapError):
        heap.write(a, 5)
    with pytest.raises(HeapError):
        heap.read(a, -1)
    with pytest.raises(HeapError):
        heap.read(float(a), 1)


# ---- stats --------------------------------------------------------------------------


def test_stats_count_the_calls(heap):
    a = heap.alloc(10)
    b = heap.alloc(20)
    c = heap.calloc(3, 10)
    d = heap.memalign(64, 10)
    b = heap.realloc(b, 500)
    heap.realloc(None, 7)
    heap.free(a)
    heap.free(None)
    with pytest.raises(HeapError):
        heap.free(a)
    assert heap.alloc(1 << 50) is None
    stats = heap.stats()
    assert stats["alloc_calls"] == 3
    assert stats["calloc_calls"] == 1
    assert stats["memalign_calls"] == 1
    assert stats["realloc_calls"] == 2
    assert stats["free_calls"] == 2        # the double free counts, NULL does not
    assert stats["failed_calls"] == 1
    assert stats["blocks_in_use"] == 4
    assert stats["bytes_in_use"] == sum(heap.usable_size(p) + OVERHEAD for p in (b, c, d)) + 32
    assert stats["peak_bytes_in_use"] >= stats["bytes_in_use"]
    assert stats["segments"] == 1
    assert stats["heap_start"] <= min(a, b, c, d) < stats["heap_end"] <= stats["heap_break"]
    assert stats["grow_calls"] == 1 and stats["trim_calls"] == 0


def test_stat_names_come_from_the_core(heap):
    names = list(heap.stats())
    assert len(names) == len(set(names))
    for expected in ("alloc_calls", "free_calls", "blocks_in_use", "heap_size", "heap_break"):
        assert expected in names
    assert all(isinstance(v, int) and v >= 0 for v in heap.stats().values())


# ---- printing -----------------------------------------------------------------------


def test_dump_lists_the_blocks(heap):
    a = heap.alloc(100)
    heap.alloc(200)
    heap.free(a)
    text = heap.dump()
    assert str(heap) == text
    lines = text.splitlines()
    rows = [line.split() for line in lines if line.strip().startswith("+")]
    assert [row[3] for row in rows] == ["free", "used", "free"]
    assert rows[0][:3] == [f"+{a - heap.start:#x}", "112", "-"]
    assert rows[1][1:3] == ["208", "200"]
    assert "3 blocks: 1 used (208 bytes), 2 free" in text
    assert "hmm.Heap" in repr(heap) and "blocks_in_use=1" in repr(heap)


def test_dump_of_an_empty_heap(new_heap):
    h = new_heap(1 * MiB)
    assert "0 blocks" in h.dump()


# ---- threads ----------------------------------------------------------------------


def test_threads_share_a_heap(policy):
    import threading

    h = hmm.Heap(8 * MiB, policy=policy)   # not checked: that would race the threads
    errors = []

    def worker(seed):
        try:
            for i in range(300):
                p = h.alloc((seed * 37 + i * 13) % 2000)
                h.write(p, bytes([seed]) * 8)
                assert h.read(p, 8) == bytes([seed]) * 8
                h.free(p)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert h.check() == 0
    assert h.stats()["blocks_in_use"] == 0


@pytest.mark.parametrize("free_neighbours", ["none", "previous", "next", "both"])
@pytest.mark.parametrize("call", ["free", "realloc"])
def test_double_free_after_coalescing(heap, free_neighbours, call):
    """A block freed into a merge is gone: freeing it again is caught
    whichever neighbours it merged with."""
    before, x, after, guard = _four(heap)
    if free_neighbours in ("previous", "both"):
        heap.free(before)
    if free_neighbours in ("next", "both"):
        heap.free(after)
    heap.free(x)
    in_use = heap.stats()["blocks_in_use"]
    with pytest.raises(HeapError) as excinfo:
        if call == "free":
            heap.free(x)
        else:
            heap.realloc(x, 50)
    fault, message = fault_of(excinfo)
    # The sealed header left behind by the merge tells it from a wild pointer.
    assert fault == ("double_free" if call == "free" else "use_after_free")
    assert message.startswith(f"hmm: {call}(): ") and f"{x:#x}" in message
    assert heap.stats()["blocks_in_use"] == in_use
