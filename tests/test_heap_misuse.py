"""Random misuse of the allocator core, mixed into random correct use.

The machine drives a simulated heap the way test_heap_properties.py does (the
rules of ordinary use and the model of the live blocks and the bytes
written into them are heap_machine.py's), and between the ordinary calls it
commits the misuse that the misuse spec names:

* misuse that must be caught and change nothing: a double free, realloc and
  malloc_usable_size of a freed pointer, free of a pointer inside a live
  block or inside free memory.  Each gives the spec's exact line, the heap
  is the same after it, and the checker still finds nothing wrong.
* corruption, done with `Heap.scribble` as a buggy program would do it: an
  overflow past a block (a broken header in the default mode, a broken
  canary in check mode), a write into freed memory (check mode), and
  overwritten free-list links.  Each must be noticed; then the bytes are put
  back and the heap must be healthy again.  Where the core has already acted
  on the corrupted data (it noticed bad links only after following some),
  putting bytes back proves nothing, and the machine goes on with a new heap.

It runs for every placement policy, in the default mode and in check mode.
The tests after the machine are single cases that the machine found, each
the smallest program that showed one way the core broke the spec (all
fixed since; they stay as regression tests).
"""
import struct

import cffi
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, note, settings
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

import hmm
from heap_machine import KiB, ordinary_use
from hmm import HeapError

MiB = 1024 * KiB
# Above the largest threshold at which the C library's malloc maps a request
# of its own (32 MiB), so that every heap's buffer is a fresh mapping, at the
# same offset from a page boundary.  memalign lays blocks out by absolute
# address: with the buffer always placed alike, an example replays alike.
# The heap uses only what the break is moved over.
HEAP_BYTES = 36 * MiB

HEADER = 16          # a block's header: prev_size and the sealed size word
OVERHEAD = 8         # what an in-use block costs (its footer is lent out)
MIN_BLOCK = 32
GUARD_EXTRA = 16     # check mode: room for the canary and the sealed request
FREE_FILL = 0xDD     # check mode: what freed memory holds
CANARY_FILL = 0xFD   # check mode: what follows the bytes asked for

small = st.integers(0, 300)
medium = st.integers(301, 4 * KiB)
large = st.integers(4 * KiB + 1, 64 * KiB)
sizes = st.one_of(small, small, small, medium, large)
alignments = st.sampled_from([1, 16, 32, 64, 256, 4096])

_ffi = cffi.FFI()


def peek(heap, address, n):
    """The n bytes at address, anywhere in the heap's memory (what
    `scribble` writes, this reads: `Heap.read` only reads live blocks)."""
    assert heap.address <= address and address + n <= heap.address + heap.size
    return _ffi.buffer(_ffi.cast("char *", address), n)[:]


def changed(data, old):
    """data, made to differ from old in at least one byte (the first)."""
    if data == old:
        data = bytes([old[0] ^ 0xFF]) + data[1:]
    return data


def first_difference(a, b):
    return next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)


def raises(call, *args):
    """The HeapError that call(*args) raises; failing if it returns."""
    try:
        result = call(*args)
    except HeapError as exc:
        return exc
    raise AssertionError(f"{call.__name__}{tuple(hex(a) if isinstance(a, int) and a > 4096 else a for a in args)} "
                         f"returned {result!r} instead of reporting the misuse")


class MisuseMachine(ordinary_use(sizes=sizes, calloc_sizes=st.integers(0, 300),
                                 alignments=alignments)):
    def __init__(self, policy, check):
        super().__init__()
        self.policy = policy
        self.check_level = check
        self.new_heap()

    def new_heap(self):
        self.heap = hmm.Heap(HEAP_BYTES, policy=self.policy, check=self.check_level)
        self.forget_all()

    # ---- helpers --------------------------------------------------------

    def blocks(self):
        return self.heap.walk()

    def block_at(self, address):
        return next(b for b in self.blocks() if b.address == address)

    def free_block_holding(self, address):
        """The free block whose memory holds address, or None."""
        for b in self.blocks():
            if not b.used and b.address - HEADER <= address < b.address - HEADER + b.size:
                return b
        return None

    def top(self):
        """The top block (the last of the heap, when free): it is on no
        free list."""
        blocks = self.blocks()
        return blocks[-1] if blocks and not blocks[-1].used else None

    def snapshot(self):
        stats = self.heap.stats()
        return self.blocks(), stats["blocks_in_use"], stats["bytes_in_use"]

    # ---- misuse that is caught and changes nothing ------------------------

    def expect_unchanged(self, before, why):
        assert self.snapshot() == before, f"{why} changed the heap"
        self.healthy(why)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), call=st.sampled_from(["free", "realloc", "usable_size"]),
          n=st.integers(1, 300))
    def use_after_free(self, data, call, n):
        """free(p), then free, realloc or malloc_usable_size of p again."""
        address = self.pick(data)
        self.verify(address)
        size = self.block_at(address).size
        self.heap.free(address)
        del self.model[address]
        blocks = self.blocks()
        segment_end = blocks[-1].address - HEADER + blocks[-1].size + HEADER
        if address >= segment_end:
            # merged into the top, and the top was trimmed below it
            tail = "(its memory was given back to the system)"
            event("use after free: memory given back")
        else:
            here = [b for b in blocks if b.address == address]
            tail = f"(block of {size} bytes)"
            if here:    # still a block, or grown by merging its right neighbour
                assert not here[0].used
                if here[0].size != size:
                    tail = f"(now part of a free block of {here[0].size} bytes)"
                    event("use after free: merged right")
            else:       # merged into its left neighbour: its header stays, and names its size
                event("use after free: merged left")
        before = self.snapshot()
        if call == "free":
            exc = raises(self.heap.free, address)
            fault, line = "double_free", f"hmm: free(): double free of {address:#x} {tail}"
        elif call == "realloc":
            exc = raises(self.heap.realloc, address, n)
            fault, line = "use_after_free", f"hmm: realloc(): use after free of {address:#x} {tail}"
        else:
            exc = raises(self.heap.usable_size, address)
            fault = "use_after_free"
            line = f"hmm: malloc_usable_size(): use after free of {address:#x} {tail}"
        assert (exc.fault, str(exc)) == (fault, line)
        self.expect_unchanged(before, f"{call} of a freed block")

    @precondition(lambda self: self.model)
    @rule(data=st.data(), where=st.sampled_from([16, 1, 8, "anywhere"]))
    def free_interior(self, data, where):
        """free() of an address inside a live block."""
        address = self.pick(data)
        block = self.block_at(address)
        if self.check_level:
            # every byte up to the sealed request word was written: the
            # request, the canary after it
            limit = block.size - HEADER
        else:
            limit = block.usable
        offset = where if where != "anywhere" else \
            data.draw(st.integers(1, limit - 1), label="offset")
        if not 0 < offset < limit:
            return
        pointer = address + offset
        before = self.snapshot()
        exc = raises(self.heap.free, pointer)
        assert (exc.fault, str(exc)) == (
            "invalid_pointer",
            f"hmm: free(): invalid pointer {pointer:#x} "
            f"(inside the block at {address:#x} of {block.size} bytes)")
        self.verify(address)
        self.expect_unchanged(before, "free of an interior pointer")

    @rule(data=st.data())
    def free_inside_free_memory(self, data):
        """free() of an address inside a free block (the top included)."""
        free = [b for b in self.blocks() if not b.used]
        if not free:
            return
        block = data.draw(st.sampled_from(free), label="free block")
        # Inside its memory past the header, short of the next header.
        offset = data.draw(st.integers(1, block.size - HEADER - 1), label="offset")
        pointer = block.address + offset
        if pointer % 16 == 0:
            # An aligned pointer is read as a block: where a merge left a
            # sealed header behind, that is a double free, not a wild free.
            # Only in check mode is the fill there to show there is none.
            if not self.check_level or peek(self.heap, pointer - HEADER, HEADER) != \
                    bytes([FREE_FILL]) * HEADER:
                return
        before = self.snapshot()
        exc = raises(self.heap.free, pointer)
        assert (exc.fault, str(exc)) == (
            "invalid_pointer", f"hmm: free(): invalid pointer {pointer:#x} (inside free memory)")
        self.expect_unchanged(before, "free of an address inside free memory")

    # ---- corruption -------------------------------------------------------

    def restore(self, address, original, why):
        self.heap.scribble(address, original)
        self.healthy(f"after putting back the bytes of {why}")

    def in_use_counts(self):
        stats = self.heap.stats()
        return stats["blocks_in_use"], stats["bytes_in_use"]

    @precondition(lambda self: self.model and not self.check_level)
    @rule(data=st.data(), k=st.integers(1, 24), call=st.sampled_from(["free", "realloc"]),
          victim=st.sampled_from(["this", "next"]), n=st.integers(1, 300))
    def overflow_into_next_header(self, data, k, call, victim, n):
        """Default mode: k bytes past a block's usable bytes land on the next
        block's size word; free or realloc of either block must report that
        header, and do nothing else."""
        address = self.pick(data)
        at = address + self.heap.usable_size(address)       # the next size word
        following = at - OVERHEAD                          # the next block
        next_payload = following + HEADER
        k = min(k, self.heap.address + self.heap.size - at)
        before = self.snapshot()
        original = peek(self.heap, at, k)
        head = min(k, 8)
        bytes_ = data.draw(st.binary(min_size=k, max_size=k), label="overflow")
        # The size word itself must change, or no header is hit.
        bytes_ = changed(bytes_[:head], original[:head]) + bytes_[head:]
        self.heap.scribble(at, bytes_)
        report = self.heap.check_report()
        if not any(line.endswith(f" at {following:#x}") for line in report.splitlines()):
            # The new size word happens to carry a valid seal: the 1 in
            # 65536 chance block.h allows.  Nothing can tell; put it back.
            event("overflow: the seal matched by chance")
            note(f"checker after the overflow: {report!r}")
            self.restore(at, original, "an overflow")
            return
        target = address
        if victim == "next":
            if next_payload in self.model:
                target = next_payload
            else:
                event("overflow: next block not live, this one instead")
        counts = self.in_use_counts()
        exc = raises(self.heap.free, target) if call == "free" else \
            raises(self.heap.realloc, target, n)
        # The spec names the pointer passed; naming the block whose header
        # broke is as good when that pointer is this block's.
        named = {next_payload} if target == next_payload else {next_payload, address}
        assert exc.fault == "corrupt_header", str(exc)
        assert str(exc) in {f"hmm: {call}(): corrupted block header at {p:#x}" for p in named}
        assert self.in_use_counts() == counts, \
            f"{call}() reported the corrupted header, then went on and changed the heap"
        self.restore(at, original, "an overflow")
        assert self.snapshot() == before, "a call that reported a corrupted header changed the heap"
        self.verify(address)
        if next_payload in self.model:
            self.verify(next_payload)

    @precondition(lambda self: self.check_level and self.model)
    @rule(data=st.data(), k=st.integers(1, 24), call=st.sampled_from(["free", "realloc"]),
          n=st.integers(1, 300))
    def overflow_into_canary(self, data, k, call, n):
        """Check mode: k bytes just past the requested size change the
        canary; free or realloc of the block reports the first byte changed."""
        address = data.draw(st.sampled_from(sorted(self.model)), label="block")
        request = self.heap.usable_size(address)
        assert request == len(self.model[address])
        size = self.block_at(address).size
        k = min(k, size - HEADER - request)                 # up to the sealed request word
        at = address + request
        before = self.snapshot()
        original = peek(self.heap, at, k)
        assert original == bytes([CANARY_FILL]) * k, "the canary is not there"
        bytes_ = changed(data.draw(st.binary(min_size=k, max_size=k), label="overflow"), original)
        first = at + first_difference(bytes_, original)
        self.heap.scribble(at, bytes_)
        report = self.heap.check_report()
        assert f"buffer overflow at {first:#x}" in report.splitlines(), report
        exc = raises(self.heap.free, address) if call == "free" else \
            raises(self.heap.realloc, address, n)
        assert (exc.fault, str(exc)) == (
            "overflow",
            f"hmm: {call}(): buffer overflow at {first:#x} (past the {request} bytes of {address:#x})")
        self.restore(at, original, "an overflow")
        assert self.snapshot() == before, "a call that reported an overflow changed the heap"
        self.verify(address)

    @precondition(lambda self: self.check_level and self.model)
    @rule(data=st.data(), value=st.integers(0, 255))
    def write_after_free(self, data, value):
        """Check mode: a byte written into a freed block, past its links.
        The checker reports it at once; a malloc of the same size, which
        gets that block back if nothing merged (LIFO), must report it too
        when the byte is in what it hands out."""
        address = self.pick(data)
        self.verify(address)
        request = len(self.model[address])
        size = self.block_at(address).size
        self.heap.free(address)
        del self.model[address]
        if size < MIN_BLOCK + HEADER or self.free_block_holding(address) is None:
            return        # no byte past the links, or trimmed away
        at = address + data.draw(st.integers(16, size - HEADER - 1), label="offset")
        assert peek(self.heap, at, 1) == bytes([FREE_FILL]), "freed memory is not filled"
        if value == FREE_FILL:
            value ^= 0xFF
        self.heap.scribble(at, bytes([value]))
        report = self.heap.check_report()
        assert f"write after free at {at:#x}" in report.splitlines(), report
        try:
            again = self.heap.alloc(request)
        except HeapError as exc:
            assert (exc.fault, str(exc)) == (
                "write_after_free", f"hmm: malloc(): write after free at {at:#x}")
            event("write after free: caught by malloc")
            self.restore(at, bytes([FREE_FILL]), "a write after free")
            return
        if again is None:
            self.restore(at, bytes([FREE_FILL]), "a write after free")
            return
        self.adopt(again, request)
        block = self.block_at(again)
        start = again - HEADER
        assert not start + HEADER + 16 <= at < start + block.size, (
            f"malloc({request}) handed out {again:#x} (block of {block.size} bytes) "
            f"without reporting the write after free at {at:#x}")
        holder = self.free_block_holding(at)
        assert holder is None or at >= holder.address + 16, (
            f"malloc({request}) split a block, writing a header over the write after "
            f"free at {at:#x}, without reporting it")
        event("write after free: block not handed out again")
        self.restore(at, bytes([FREE_FILL]), "a write after free")

    @rule(data=st.data(), tries=st.integers(1, 8))
    def overwrite_free_links(self, data, tries):
        """The links of a free block (its first 16 payload bytes) are
        overwritten; allocating its size must report the corrupted free
        list (or header), or at the least the checker must see it."""
        top = self.top()
        listed = [b for b in self.blocks() if not b.used and b != top]
        if not listed:
            return
        block = data.draw(st.sampled_from(listed), label="free block")
        original = peek(self.heap, block.address, 16)
        bad = changed(data.draw(st.binary(min_size=16, max_size=16), label="links"), original)
        self.heap.scribble(block.address, bad)
        free_payloads = {b.address for b in self.blocks() if not b.used}
        request = max(0, block.size - OVERHEAD - (GUARD_EXTRA if self.check_level else 0))
        for _ in range(tries):
            try:
                address = self.heap.alloc(request)
            except HeapError as exc:
                event(f"free links: {exc.fault}")
                assert exc.fault in ("corrupt_free_list", "corrupt_header"), str(exc)
                word = "free list" if exc.fault == "corrupt_free_list" else "block header"
                where = int(str(exc).rsplit(" ", 1)[1], 16)
                assert str(exc) == f"hmm: malloc(): corrupted {word} at {where:#x}"
                assert where == block.address or where in free_payloads, str(exc)
                # The core acted on what it read before it noticed: only a
                # new heap is known to be sound.
                self.new_heap()
                return
            if address is None:
                break
            assert address != block.address, (
                f"malloc({request}) handed out the block at {block.address:#x} "
                "whose links were overwritten, without a word")
            self.adopt(address, request)
        event("free links: left to the checker")
        assert self.heap.check() > 0, "overwritten free-list links went unnoticed"
        # Put back each link the core has not rewritten since (a link it
        # rewrote holds a valid value again).
        now = peek(self.heap, block.address, 16)
        for half in (0, 8):
            if now[half:half + 8] == bad[half:half + 8]:
                self.heap.scribble(block.address + half, original[half:half + 8])
        self.healthy("after putting back overwritten free-list links")

    def teardown(self):
        if self.heap.check():
            return   # a step already failed on this broken heap
        for address in sorted(self.model):
            self.verify(address)
            self.heap.free(address)
        self.healthy("after freeing everything")
        stats = self.heap.stats()
        assert stats["blocks_in_use"] == 0 and stats["bytes_in_use"] == 0


SETTINGS = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    # One failure per test, shrunk: enough to act on, and a failing run
    # stays short.
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("check", [0, 1])
@pytest.mark.parametrize("policy", hmm.POLICIES)
def test_heap_misuse(policy, check):
    run_state_machine_as_test(lambda: MisuseMachine(policy, check), settings=SETTINGS)


# ---- single cases the machine found ------------------------------------------
# Each is the smallest program that shows the core breaking the misuse spec.


@pytest.mark.parametrize("call", ["free", "realloc"])
@pytest.mark.parametrize("byte, flip", [(1, 0x01), (0, 0x01)], ids=["size", "in-use-bit"])
def test_overflow_into_the_next_header_is_reported_by_this_block(call, byte, flip):
    """One byte past a block's usable bytes changes the next block's size
    word: bit 8 of its size (its flags stay), or its in-use bit (it looks
    free).  free() or realloc() of the overflowing block must report that
    header and do nothing else.  (It frees the block, without a word in the
    first case, after the report in the second.)"""
    heap = hmm.Heap(1 << 20)
    a = heap.alloc(24)
    b = heap.alloc(24)
    heap.alloc(24)                       # keeps b off the top
    before = heap.walk()
    size_word = a + heap.usable_size(a)
    original = peek(heap, size_word + byte, 1)
    heap.scribble(size_word + byte, bytes([original[0] ^ flip]))
    assert heap.check() > 0
    try:
        result = heap.free(a) if call == "free" else heap.realloc(a, 100)
    except HeapError as exc:
        fault, message = exc.fault, str(exc)
    else:
        fault, message = None, f"returned {result!r}"
    heap.scribble(size_word + byte, original)
    changed_heap = heap.walk() != before or heap.check() != 0
    named = {f"hmm: {call}(): corrupted block header at {p:#x}" for p in (a, b)}
    assert (fault, message in named, changed_heap) == ("corrupt_header", True, False), \
        f"{call}() of the block below the overwritten header: {message!r}, heap changed: {changed_heap}"


def test_malloc_after_an_overflow_into_the_top_header():
    """One byte past the block below the top lands in the top's size word
    and makes it 8 MiB bigger.  The next malloc takes the top without
    checking its seal, and writes 8 MiB past the heap's end: here inside a
    buffer big enough to see it, in a smaller one outside it, where it kills
    the interpreter.  It must report the header and write nothing."""
    heap = hmm.Heap(HEAP_BYTES)
    a = heap.alloc(24)
    top = heap.walk()[-1]
    assert not top.used and top.address == a + 32
    end = top.address - HEADER + top.size + HEADER      # past the end marker
    size_word = a + heap.usable_size(a)
    original = peek(heap, size_word + 2, 1)
    heap.scribble(size_word + 2, bytes([original[0] ^ 0x7F]))
    try:
        heap.alloc(100)
    except HeapError as exc:
        fault, message = exc.fault, str(exc)
    else:
        fault, message = None, "returned"
    beyond = peek(heap, end, heap.address + heap.size - end)
    first = len(beyond) - len(beyond.lstrip(b"\0"))      # the first byte written there
    wrote = first < len(beyond)
    assert not wrote, f"malloc wrote past the heap's end: at {end + first:#x}, {first} bytes beyond it"
    assert (fault, message) == (
        "corrupt_header", f"hmm: malloc(): corrupted block header at {top.address:#x}")


def test_write_after_free_in_the_tail_of_a_reused_block():
    """Check mode: malloc(40) is a block of 64 bytes.  Freed, it is written
    to 40 bytes in; malloc(24) needs 48 bytes and gets that block back
    whole, since a 16-byte tail is too small to split off.  malloc checks
    the fill over the 48 bytes it needs only, and the canary then covers
    the byte: the write after free is never reported."""
    heap = hmm.Heap(1 << 20, check=1)
    a = heap.alloc(40)
    heap.alloc(40)                       # keeps a off the top
    heap.free(a)
    at = a + 40
    heap.scribble(at, b"\x41")
    assert f"write after free at {at:#x}" in heap.check_report().splitlines()
    try:
        b = heap.alloc(24)
    except HeapError as exc:
        assert (exc.fault, str(exc)) == ("write_after_free", f"hmm: malloc(): write after free at {at:#x}")
    else:
        pytest.fail(f"malloc(24) handed out {b:#x} (the freed block at {a:#x} of 64 bytes: "
                    f"{b == a}) without reporting the write after free at {at:#x}; "
                    f"the checker now finds {heap.check()} problems")


def test_free_inside_a_block_over_an_old_header():
    """Default mode: x and y, two blocks of 32 bytes, are freed and merge;
    y's header stays where it was, sealed and marked free.  malloc(56) hands
    out the merged 64 bytes, and the program writes nothing.  free(w + 32),
    a pointer inside that live block, is reported as a double free of a
    block of 32 bytes instead of an invalid pointer inside the block."""
    heap = hmm.Heap(1 << 20)
    x = heap.alloc(24)
    y = heap.alloc(24)
    heap.alloc(24)                       # keeps them off the top
    heap.free(y)
    heap.free(x)
    w = heap.alloc(56)
    assert w == x and heap.walk()[0].size == 64
    pointer = w + 32                     # y's old pointer
    exc = raises(heap.free, pointer)
    assert (exc.fault, str(exc)) == (
        "invalid_pointer", f"hmm: free(): invalid pointer {pointer:#x} (inside the block at {w:#x} of 64 bytes)")


def test_overflow_of_malloc_0_names_0_bytes():
    """Check mode: one byte written into a malloc(0).  The spec's line says
    'past the R bytes of P' with R the size asked for, here 0; the core
    prints 'past the end of P', its line for a request word it cannot read."""
    heap = hmm.Heap(1 << 20, check=1)
    p = heap.alloc(0)
    heap.scribble(p, b"\x00")
    exc = raises(heap.free, p)
    assert (exc.fault, str(exc)) == (
        "overflow", f"hmm: free(): buffer overflow at {p:#x} (past the 0 bytes of {p:#x})")


def test_double_free_names_the_block_or_the_free_block_it_is_part_of():
    """A double free names the block's own size while its header keeps it,
    and otherwise the free block its memory is part of now: a block that
    merged into the top, or grew by its right neighbour, has the merged
    block's header (the line used to give that size as the block's own)."""
    heap = hmm.Heap(1 << 20)
    a, b, c, d = (heap.alloc(1000) for _ in range(4))
    heap.alloc(24)                       # keeps d off the top
    top = heap.alloc(1000)               # the last block below the top
    line = "hmm: free(): double free of {:#x} ({})"
    heap.free(top)
    merged = heap.walk()[-1]
    assert merged.address == top and merged.size > 1008
    exc = raises(heap.free, top)
    assert str(exc) == line.format(top, f"now part of a free block of {merged.size} bytes")

    heap.free(b)                         # neighbours in use: its own size
    assert str(raises(heap.free, b)) == line.format(b, "block of 1008 bytes")
    heap.free(c)                         # merges into b: its header stays, with its size
    assert str(raises(heap.free, c)) == line.format(c, "block of 1008 bytes")
    assert str(raises(heap.free, b)) == line.format(b, "now part of a free block of 2016 bytes")
    heap.free(a)                         # b and c merge into a
    assert str(raises(heap.free, b)) == line.format(b, "now part of a free block of 3024 bytes")
    assert str(raises(heap.realloc, c, 10)) == (
        f"hmm: realloc(): use after free of {c:#x} (block of 1008 bytes)")
    assert heap.check() == 0, heap.check_report()


@pytest.mark.parametrize("policy", hmm.POLICIES)
@pytest.mark.parametrize("word", [0, 0x10, 0x7F0, 1 << 40], ids=["zero", "16", "2032-bare", "huge"])
def test_malloc_reports_a_free_block_whose_size_word_was_overwritten(policy, word):
    """free(p), then a write after free over p's size word, then malloc of
    p's size: whatever the word now says, placement meets p's header (the
    head of the request's own class, or a block on the list it walks) and
    must hand it to the heap to report, not pass over it.  glibc aborts
    here with 'malloc(): invalid size'."""
    heap = hmm.Heap(1 << 20, policy=policy)
    p = heap.alloc(2020)                 # a block of 2032: class [2016, 2048)
    heap.alloc(24)                       # keeps p off the top
    heap.free(p)
    heap.scribble(p - 8, struct.pack("<Q", word))
    exc = raises(heap.alloc, 2020)
    assert (exc.fault, str(exc)) == ("corrupt_header", f"hmm: malloc(): corrupted block header at {p:#x}")
