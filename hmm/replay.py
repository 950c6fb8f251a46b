"""A recorded program's calls, replayed on a simulated heap under each
placement policy (the core, through csrc/replay.h: the loop is C).

    >>> t = hmm.Trace.load("git.trace")
    >>> for r in hmm.replay.replay_all(t): print(r)

The heap is the core's simulated one (a buffer and a fake break, and the
buffer's second half as what mmap gives a process, for large blocks), with
the process heap's defaults; the program's blocks get the core's placement
under each policy, in the order the program asked for them, so the
policies' figures are side by side on the same history.  A single-threaded
program recorded with the thread caches off (HMM_TCACHE=0) and replayed
under the policy it ran with gets every heap block at the offset it had in
the process.  What differs otherwise: no thread caches, one heap for all
threads, and mappings at addresses of their own.
"""
import os
import threading
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from .heap import Heap, _load_core
from .symbols import frame_label

# The simulated address space: what a replay starts with, and the most it
# may grow to when the heap runs out (each retry doubles it).
START_BYTES = 64 << 20
MOST_BYTES = 64 << 30
# Where the bytes went, in parts that add up to the heap and its mappings.
WHERE_PARTS = ("asked", "rounding_and_headers", "free", "top", "mapped", "bookkeeping")


@dataclass
class Replay:
    """One policy's replay of a trace (the figures of `hmm replay`)."""
    policy: str
    calls: int
    allocations: int
    failed: int                 # allocations the simulated heap refused
    peak_heap_size: int         # bytes of heap, at the most ...
    peak_heap_call: int         # ... after this call
    peak_in_use: int            # bytes asked for and live, at the most ...
    peak_in_use_call: int       # ... after this call
    peak_footprint: int         # bytes of heap and mappings together, at the most
    examined: int               # free blocks the policy looked at
    seconds: float              # the replay loop's time
    free_at_peak: list = field(default_factory=list)  # free block sizes at the heap's peak
    heap: Heap = field(default=None, repr=False)       # the heap after the last call
    peak_blocks: "HeapBlocks" = field(default=None, repr=False)  # heap_blocks() at the peak
    peak_heap_size_at_peak: int = 0   # the heap's size, and ...
    peak_mapped: int = 0              # ... its mappings', at the peak the blocks are of
    peak_footprint_call: int = 0      # the call after which the footprint was at its most
    history: object = field(default=None, repr=False)  # hmm.heap_pictures.History, if asked for

    def __post_init__(self):
        if self.peak_blocks is None:
            self.peak_blocks = _blocks_record(0)

    @property
    def fragmentation(self):
        """The memory the heap took at its most (heap and mappings) over
        the bytes asked for at their most, minus one (Johnstone and
        Wilson's measure, their #4)."""
        return self.peak_footprint / self.peak_in_use - 1 if self.peak_in_use else 0.0

    @property
    def examined_per_allocation(self):
        return self.examined / self.allocations if self.allocations else 0.0

    @property
    def ns_per_call(self):
        return self.seconds * 1e9 / self.calls if self.calls else 0.0

    @property
    def largest_free_at_peak(self):
        return max(self.free_at_peak, default=0)

    def free_histogram(self):
        """{power of two: free blocks at the heap's peak of at least that
        many bytes and less than twice as many}."""
        counts = {}
        for size in self.free_at_peak:
            bucket = 1 << (int(size).bit_length() - 1)
            counts[bucket] = counts.get(bucket, 0) + 1
        return dict(sorted(counts.items()))

    def where_the_bytes_went(self, trace):
        """At the heap's peak, where its bytes and its mappings' went, in
        parts that add up to heap size plus mapped bytes, to the byte:
        asked (what the program asked for, of the blocks live then),
        rounding and headers (the rest of those blocks), free (holes), top
        (free at the end, which trimming gives back), mapped (large blocks'
        mappings), and the heap's own bookkeeping (segment headers and end
        markers).  Answers "is it a leak or fragmentation?": a leak is in
        `asked`, fragmentation in `free`."""
        parts = dict.fromkeys(WHERE_PARTS, 0)
        b = self.peak_blocks
        if len(b):
            known = b.used & (b.call >= 0)
            parts["asked"] = int(np.asarray(trace.size)[b.call[known]].sum())
            parts["rounding_and_headers"] = int(b.size[b.used].sum()) - parts["asked"]
            parts["top"] = int(b.size[-1]) if not b.used[-1] else 0   # free at the end
            parts["free"] = int(b.size[~b.used].sum()) - parts["top"]
        parts["mapped"] = self.peak_mapped
        parts["bookkeeping"] = self.peak_heap_size_at_peak - int(b.size.sum())
        return parts

    def __str__(self):
        return (f"{self.policy}: peak heap {self.peak_heap_size:,} bytes, peak in use "
                f"{self.peak_in_use:,}, fragmentation {self.fragmentation:.1%}, "
                f"{self.examined_per_allocation:.1f} blocks examined per allocation, "
                f"{self.ns_per_call:.0f} ns a call")


def _columns(trace):
    """The trace's calls as hmm_replay_calls, and the arrays behind it."""
    core = _load_core()
    ffi = core.ffi
    arrays = {
        "tag": np.ascontiguousarray(trace.tag, dtype=np.uint8),
        "size": np.ascontiguousarray(trace.size, dtype=np.uint64),
        "alignment": np.ascontiguousarray(trace.alignment, dtype=np.uint64),
        "ret": np.ascontiguousarray(trace.ret, dtype=np.uint64),
        "frees": np.ascontiguousarray(trace.frees, dtype=np.int64),
        # The program's clock, for the heap's trim delay (a heap that grows
        # again soon after a trim keeps its top for HMM_TRIM_DELAY ms).
        "time_ms": trace.milliseconds().view(np.uint64) if len(trace) else np.zeros(1, dtype=np.uint64),
    }
    calls = ffi.new("hmm_replay_calls *")
    calls.n = len(trace)
    calls.tag = ffi.cast("uint8_t *", arrays["tag"].ctypes.data)
    calls.size = ffi.cast("uint64_t *", arrays["size"].ctypes.data)
    calls.alignment = ffi.cast("uint64_t *", arrays["alignment"].ctypes.data)
    calls.ret = ffi.cast("uint64_t *", arrays["ret"].ctypes.data)
    calls.frees = ffi.cast("int64_t *", arrays["frees"].ctypes.data)
    calls.time_ms = (ffi.cast("uint64_t *", arrays["time_ms"].ctypes.data)
                     if getattr(trace, "clock_rate_known", False) else ffi.NULL)
    return calls, arrays


def _run(calls, policy, size, start=0):
    """(heap, addresses, heap sizes) of calls [start, the end) replayed on
    a new heap (`start`: 0, or where the process exec'ed a new program):
    where each call's block was placed, and the heap's size after each."""
    core = _load_core()
    ffi, lib = core.ffi, core.lib
    heap = Heap(size, policy=policy, maps=size // 2)
    n = max(1, calls.n)
    blocks, where, heap_sizes = (np.zeros(n, dtype=np.uint64) for _ in range(3))
    lib.hmm_replay(heap._heap, calls, start, calls.n, _pointer(ffi, blocks), _pointer(ffi, where),
                   _pointer(ffi, heap_sizes), ffi.new("hmm_replay_result *"))
    return heap, where, heap_sizes


def _pointer(ffi, array):
    """A uint64_t * to the array's data, or NULL for None."""
    return ffi.NULL if array is None else ffi.cast("uint64_t *", array.ctypes.data)


@dataclass
class HeapBlocks:
    """A replay's heap's blocks, in address order, as arrays: address (the
    payload's), size (header included), used, and call (the call that
    placed a block in use, when known; else -1)."""
    address: np.ndarray
    size: np.ndarray
    used: np.ndarray
    call: np.ndarray

    def __len__(self):
        return len(self.address)


def _blocks_record(n):
    """n blocks' worth of HeapBlocks, zeroed (call -1)."""
    return HeapBlocks(np.zeros(n, np.uint64), np.zeros(n, np.uint64), np.zeros(n, bool),
                      np.full(n, -1, np.int64))


def heap_blocks(heap, below=None):
    """A replay's heap's blocks (those below `below`: by default the
    buffer's lower half, the heap's; the upper half stands in for mmap), as
    HeapBlocks (their calls -1: _attach_calls sets them).  From C
    (hmm_replay_blocks): a heap of a million blocks is read in
    milliseconds."""
    core = _load_core()
    ffi, lib = core.ffi, core.lib
    below = heap.address + heap.size // 2 if below is None else below
    n = lib.hmm_replay_blocks(heap._heap, below, ffi.NULL, ffi.NULL, ffi.NULL, 0)
    blocks = _blocks_record(n)
    used = np.zeros(n, np.uint8)
    lib.hmm_replay_blocks(heap._heap, below, _pointer(ffi, blocks.address),
                          _pointer(ffi, blocks.size), ffi.cast("uint8_t *", used.ctypes.data), n)
    blocks.used = used.astype(bool)
    return blocks


def _attach_calls(blocks, placed):
    """Set blocks.call for the blocks in use: the last call in `placed`
    (where each call's block went, 0 for none) that placed one at its
    address (addresses are reused; the last placement is the block)."""
    calls = np.flatnonzero(placed)
    where = placed[calls]
    at = np.searchsorted(blocks.address, where)
    inside = at < len(blocks)
    at, calls, where = at[inside], calls[inside], where[inside]
    hit = (blocks.address[at] == where) & blocks.used[at]
    found = np.full(len(blocks), -1, dtype=np.int64)
    np.maximum.at(found, at[hit], calls[hit])
    blocks.call = found
    return blocks


def last_program(trace):
    """The first call of the process's last program: 0, or its last exec's
    (its heap starts empty there)."""
    return trace.execs[-1].call if trace.execs else 0


def blocks_of(trace, policy="segregated", size=None):
    """(heap, addresses, heap sizes): the process's last program replayed
    under `policy`, the simulated address each call's block got (0: none)
    and the heap's size after each call.  For comparing with the addresses
    the process had, and its heap's sizes (Trace.heap_sizes)."""
    calls, arrays = _columns(trace)
    heap, placed, sizes = _run(calls, policy, size or START_BYTES, last_program(trace))
    del arrays
    return heap, placed, sizes


def _state_of(heap):
    """The simulated heap's whole state now (hmm_replay_state_save)."""
    lib, ffi = _load_core().lib, _load_core().ffi
    state = np.empty(lib.hmm_replay_state_size(heap._heap), dtype=np.uint8)
    lib.hmm_replay_state_save(heap._heap, ffi.cast("void *", state.ctypes.data))
    return state


def _put_state(heap, state):
    """The heap back as _state_of saw it (state: its array, or its bytes)."""
    lib, ffi = _load_core().lib, _load_core().ffi
    lib.hmm_replay_state_restore(heap._heap, ffi.from_buffer(state))


_scratch = threading.local()   # .pool: {name: array}, while replay_all runs on this thread


def _scratch_array(name, n):
    """A zeroed uint64 array of n entries.  While replay_all runs, in the
    memory the thread's previous replay used for `name`: fresh memory is
    zeroed by the kernel a page at a time as the replay first writes it,
    and for ten million calls that is 80 MB an array, three arrays a
    policy, which cost more than the replay itself on a busy machine.  (So
    a replay's arrays must not outlive it: nothing it returns keeps them.)"""
    pool = getattr(_scratch, "pool", None)
    if pool is None:
        return np.zeros(n, dtype=np.uint64)
    kept = pool.get(name)
    if kept is None or len(kept) < n:
        pool[name] = kept = np.zeros(n, dtype=np.uint64)
        return kept
    array = kept[:n]
    array.fill(0)
    return array


class _PeakKeeper:
    """Replays a whole trace in chunks and keeps a copy of the heap as it
    was before the chunk in which its footprint last reached a new peak:
    the heap at the peak is then that copy and at most a chunk of calls,
    where it was a second replay up to the peak (as long as the first, for
    a program whose peak comes late)."""

    CHUNK = 1 << 16   # calls a chunk, at first and at least

    def __init__(self, calls, policy, size, sizes):
        core = _load_core()
        self.ffi, self.lib = core.ffi, core.lib
        self.calls = calls
        self.heap = Heap(size, policy=policy, maps=size // 2)
        n = max(1, calls.n)
        self.blocks = _scratch_array("blocks", n)
        self.placed = _scratch_array("placed", n)
        self.sizes = _scratch_array("sizes", n) if sizes else None
        self.result = self.ffi.new("hmm_replay_result *")
        self.peak_state, self.peak_from = None, 0   # the heap before the peak's chunk, and its call

    def run(self):
        lib, ffi, h = self.lib, self.ffi, self.heap._heap
        spare, chunk, start = None, self.CHUNK, 0
        self.seconds = 0.0   # in the replay loop only, not in the copies
        while start < self.calls.n:
            spare = _grown(spare, lib.hmm_replay_state_size(h))
            lib.hmm_replay_state_save(h, ffi.cast("void *", spare.ctypes.data))
            stop = min(start + chunk, self.calls.n)
            started = time.perf_counter()
            lib.hmm_replay(h, self.calls, start, stop, _pointer(ffi, self.blocks),
                           _pointer(ffi, self.placed), _pointer(ffi, self.sizes), self.result)
            took = time.perf_counter() - started
            self.seconds += took
            if self.result.peak_footprint_call >= start:   # the peak moved into this chunk
                self.peak_state, spare, self.peak_from = spare, self.peak_state, start
            # Chunks of some CHUNK_SECONDS: the copies cost a few percent,
            # and the way from the copy to the peak is as short.
            if took < CHUNK_SECONDS / 2 and chunk < 1 << 24:
                chunk *= 2
            elif took > CHUNK_SECONDS * 2 and chunk > self.CHUNK:
                chunk //= 2
            start = stop
        return self

    def save(self):
        """The heap's state now."""
        return _state_of(self.heap)

    def restore(self, state):
        _put_state(self.heap, state)

    def go_to_peak(self, frees):
        """The heap after the footprint's peak call, from the copy."""
        lib, ffi, h = self.lib, self.ffi, self.heap._heap
        upto = self.result.peak_footprint_call + 1
        self.restore(self.peak_state)
        # The blocks those calls free that were placed before them: where
        # they were placed (the rest the calls place themselves).
        freed = frees[self.peak_from:upto]
        freed = freed[(freed >= 0) & (freed < self.peak_from)]
        self.blocks[freed] = self.placed[freed]
        scratch = self.ffi.new("hmm_replay_result *")
        lib.hmm_replay(h, self.calls, self.peak_from, upto, _pointer(ffi, self.blocks), ffi.NULL,
                       ffi.NULL, scratch)
        return upto


def _grown(array, size):
    """A uint8 array of at least `size` bytes: `array`, or a bigger one."""
    return array if array is not None and array.nbytes >= size else np.empty(size * 5 // 4, dtype=np.uint8)


def replay(trace, policy="segregated", size=None, history=False, columns=None):
    """Replay the whole trace under `policy`; a Replay with its figures.

    `size`: the simulated address space, in bytes; by default 64 MiB,
    doubled until no allocation is refused (up to 64 GiB).  `history`:
    also keep what hmm.heap_pictures draws over time (from this replay:
    the pictures need not replay again).  `columns`: the trace's
    _columns(), when replays share them."""
    calls, arrays = columns or _columns(trace)
    size = size or START_BYTES
    while True:
        run = _PeakKeeper(calls, policy, size, sizes=history).run()
        result = run.result
        if not result.failed or size >= MOST_BYTES:
            break
        size *= 2
    heap = run.heap
    examined = heap.stats()["examined_blocks"]
    r = Replay(policy, result.calls, result.allocations, result.failed,
               result.peak_heap_size, result.peak_heap_call, result.peak_in_use,
               result.peak_in_use_call, result.peak_footprint, examined, run.seconds, [],
               heap, peak_footprint_call=result.peak_footprint_call)
    if history:
        from .heap_pictures import History
        r.history = History(trace, heap, run.placed, run.sizes, max(r.peak_heap_size, 1))
    # The heap at its peak, walked: its blocks, and the calls that placed
    # those in use.
    if result.calls:
        end = run.save()
        upto = run.go_to_peak(arrays["frees"])
        at_peak = heap.stats()
        r.peak_heap_size_at_peak, r.peak_mapped = at_peak["heap_size"], at_peak["mapped_bytes"]
        r.peak_blocks = _attach_calls(heap_blocks(heap), run.placed[:upto])
        r.free_at_peak = r.peak_blocks.size[~r.peak_blocks.used].tolist()
        run.restore(end)   # r.heap: the heap after the last call
    del arrays
    return r


def replay_all(trace, policies=None, history=False, workers=None):
    """A Replay per policy (all of them, the default first, by default), in
    that order.  They run side by side, `workers` at a time (by default one
    per core the process may use): each heap is its own, and the C loop
    and numpy let go of Python's lock, so two cores replay two policies at
    once.  Each replay's calls a second are then measured while another
    runs: benchmarks/replay_speed.py measures them one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from . import POLICIES, trace_report
    policies = list(policies or POLICIES)
    # What the replays share, made once, here, before the threads start.
    columns = _columns(trace)
    if history:
        trace_report.blocks(trace)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(workers or 1, len(policies)))

    def one(policy):
        # The thread's replays share their arrays; a worker's go with it,
        # and the caller's thread drops its own at the end.
        if getattr(_scratch, "pool", None) is None:
            _scratch.pool = {}
        return replay(trace, policy, history=history, columns=columns)

    if workers == 1:
        try:
            return [one(policy) for policy in policies]
        finally:
            _scratch.pool = None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, policies))


def table(replays):
    """The policies side by side, as `hmm replay` prints them."""
    rows = [("policy", "peak heap", "with mappings", "peak in use", "fragmentation",
             "largest free at peak", "examined/alloc", "ns/call", "calls/s")]
    for r in replays:
        rate = r.calls / r.seconds if r.seconds else 0
        rows.append((r.policy, f"{r.peak_heap_size:,}", f"{r.peak_footprint:,}", f"{r.peak_in_use:,}",
                     f"{r.fragmentation:.1%}", f"{r.largest_free_at_peak:,}",
                     f"{r.examined_per_allocation:.2f}", f"{r.ns_per_call:.0f}",
                     f"{rate / 1e6:.1f} M"))
    return _columns_text(rows)


def _columns_text(rows):
    """Rows of cells as aligned text: the first column to the left, the
    numbers to the right, a rule under the heading."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join([row[0].ljust(widths[0])] +
                               [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def free_size_rows(replays):
    """The free blocks at each policy's peak by size, as rows of a table:
    a heading ("policy", then one column a power of two: blocks of at
    least that many bytes and less than twice as many), then a row of
    counts a policy."""
    histograms = [r.free_histogram() for r in replays]
    buckets = sorted({b for h in histograms for b in h})
    head = ("policy",) + tuple(_bytes_text(b) for b in buckets)
    return [head] + [(r.policy,) + tuple(f"{h.get(b, 0):,}" for b in buckets)
                     for r, h in zip(replays, histograms)]


def _bytes_text(n):
    """16, 1K, 64K, 2M: a power of two, short."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift:
            return f"{n >> shift}{unit}"
    return str(n)


def where_table(trace, replays, when="at the peak"):
    """Where the bytes went at each policy's peak (or `when` the replays'
    heaps are: ReplayedHeap.snapshot()), as `hmm replay --where` prints
    it: one row a policy, bytes and share of the footprint."""
    names = WHERE_PARTS
    rows = [("policy",) + tuple(n.replace("_", " ") for n in names) + ("total",)]
    for r in replays:
        parts = r.where_the_bytes_went(trace)
        total = sum(parts.values())
        rows.append((r.policy,) + tuple(f"{parts[n]:,} ({parts[n] / total:.0%})" if total else "0"
                                        for n in names) + (f"{total:,}",))
    return (f"where the bytes went {when}:\n" + _columns_text(rows) +
            f"\n\nfree blocks {when}, by size (at least ... bytes):\n" +
            _columns_text(free_size_rows(replays)))


# ---- one policy's heap, call by call ------------------------------------------------

EXPLAIN_LOOKED = 12            # explain() lists this many of the free blocks a policy looked at
LOOKED_KEPT = 1 << 16          # looked_at() keeps this many
CHECKPOINT_SECONDS = 0.25      # a replayed heap saves a checkpoint every this long of replaying,
CHECKPOINT_SHARE = 0.2         # or longer, so that saving them takes at most this share of it
CHECKPOINT_BYTES = 1 << 30     # the most its checkpoints may take together
CHUNK_SECONDS = 0.02           # about how long one C call of the replay runs, ...
CHUNK_MOST = 1 << 16           # ... and the most calls it replays: a list policy's walks can
                               # get a thousand times slower from one chunk to the next


class ReplayedHeap:
    """A trace's heap under one policy, at any call, for looking around:

        r = hmm.replay.ReplayedHeap(trace, "best-fit")
        r.goto(1000)        # the heap after calls 0..999
        r.step(10)          # ten calls on; r.step(-10) back
        r.peak()            # at the heap's peak
        r.blocks()          # its blocks, each with the call that placed it
        print(r.explain(address))   # ... and the free blocks the policy looked at
        r.picture("heap.png")

    Going forward replays the calls in between (the C loop, millions a
    second).  On the way it saves checkpoints: copies of the simulated
    heap (its buffer up to the break, and its mappings), one after every
    CHECKPOINT_SECONDS of replaying (or more, where a big heap takes long
    to compress: saving costs at most CHECKPOINT_SHARE of the time spent
    replaying).  Going back restores the last
    checkpoint before the call and replays from there, so that any seek
    replays at most that long (and restores one checkpoint)."""

    def __init__(self, trace, policy="segregated", size=None):
        self.trace = trace
        self.policy = policy
        self._calls, self._arrays = _columns(trace)
        self._size = size or START_BYTES
        self._figures = None
        n = max(1, len(trace))
        self._block = np.zeros(n, dtype=np.uint64)    # live blocks, by the call that placed them
        self._placed = np.zeros(n, dtype=np.uint64)   # where each call's block went
        self._checkpoints = {}                        # call -> (heap state, replay result, live calls)
        self._checkpoint_bytes = 0
        self._since_checkpoint = 0.0                  # seconds replayed since the last checkpoint
        self._save_seconds = 0.0                      # what saving the last one took
        self._chunk = 4096                            # calls a C call replays
        self._restart()

    def _restart(self):
        core = _load_core()
        if getattr(self, "heap", None) is None:
            self.heap = Heap(self._size, policy=self.policy, maps=self._size // 2)
        else:
            self.heap._reset()   # the same buffer: blocks come back at the same addresses
        self._block[:] = 0
        self._result = core.ffi.new("hmm_replay_result *")
        self.position = 0

    def goto(self, call):
        """The heap after calls [0, call) (call is clamped to the trace)."""
        call = max(0, min(int(call), len(self.trace)))
        nearest = max((c for c in self._checkpoints if c <= call), default=0)
        if call < self.position or nearest > self.position:
            self._restore(nearest)   # back, or a long way on: from the checkpoint before the call
        while self.position < call:
            # A chunk of calls at a time (some hundredths of a second), so
            # that a checkpoint follows every CHECKPOINT_SECONDS of
            # replaying however slow the calls are: a list policy's walks
            # grow and shrink with the free list.
            stop = min(call, self.position + self._chunk)
            started = time.perf_counter()
            self._replay_to(stop)
            took = time.perf_counter() - started
            self._chunk = max(256, min(self._chunk * 2 if took < CHUNK_SECONDS else self._chunk // 2,
                                       CHUNK_MOST))
            self.position = stop
            self._since_checkpoint += took
            every = max(CHECKPOINT_SECONDS, self._save_seconds / CHECKPOINT_SHARE)
            if self._since_checkpoint >= every and stop > max(self._checkpoints, default=0):
                self._save()
        return self

    def _replay_to(self, stop):
        core = _load_core()
        ffi = core.ffi
        core.lib.hmm_replay(self.heap._heap, self._calls, self.position, stop,
                            _pointer(ffi, self._block), _pointer(ffi, self._placed), ffi.NULL,
                            self._result)

    def _save(self):
        """A checkpoint here: the heap's state, compressed (it is mostly
        the zeros of payloads that a replay never writes: 11 MiB of heap
        are some 0.6 MiB, in a twentieth of a second), the replay's
        figures so far, and the blocks live now."""
        started = time.perf_counter()
        ffi = _load_core().ffi
        live = np.flatnonzero(self._block[:self.position])   # the blocks live now, by their calls
        saved = (zlib.compress(_state_of(self.heap), 1), bytes(ffi.buffer(self._result)), live)
        self._checkpoints[self.position] = saved
        self._checkpoint_bytes += len(saved[0]) + live.nbytes
        self._since_checkpoint = 0.0
        self._save_seconds = time.perf_counter() - started
        # Over the budget: keep every other one (the seeks get twice as long).
        while self._checkpoint_bytes > CHECKPOINT_BYTES and len(self._checkpoints) > 1:
            kept = dict(list(sorted(self._checkpoints.items()))[1::2])
            self._checkpoint_bytes = sum(len(c[0]) + c[2].nbytes for c in kept.values())
            self._checkpoints = kept

    def _restore(self, at):
        """To the checkpoint at call `at` (0: the start)."""
        self._since_checkpoint = 0.0
        if not at:
            self._restart()
            return
        ffi = _load_core().ffi
        state, result, live = self._checkpoints[at]
        _put_state(self.heap, zlib.decompress(state))
        ffi.memmove(self._result, result, len(result))
        self._block[:] = 0
        self._block[live] = self._placed[live]
        self.position = at

    def step(self, n=1):
        """n calls on (back, for n < 0)."""
        return self.goto(self.position + n)

    def figures(self):
        """The whole replay's figures (a Replay), computed once."""
        if self._figures is None:
            self._figures = replay(self.trace, self.policy, self._size,
                                   columns=(self._calls, self._arrays))
        return self._figures

    def peak(self):
        """The heap at its peak (heap and mappings at their most)."""
        return self.goto(self.figures().peak_footprint_call + 1)

    def _now(self):
        """heap_blocks() now, with the calls that placed those in use."""
        return _attach_calls(heap_blocks(self.heap), self._block[:self.position])

    def blocks(self):
        """The heap's blocks now, in address order: (address, size, used,
        call) with the call that placed a block in use (None when free)."""
        b = self._now()
        return [(address, size, used, call if used and call >= 0 else None)
                for address, size, used, call in zip(b.address.tolist(), b.size.tolist(),
                                                     b.used.tolist(), b.call.tolist())]

    def explain(self, address):
        """What lies at `address` now: the block, and for one in use the call
        that placed it and where the program made that call; for a free
        one, the last block placed in it and the call that freed that."""
        for start, size, used, call in self.blocks():
            if start - 16 <= address < start - 16 + size:
                break
        else:
            return f"0x{address:x}: not in the heap after call {self.position:,}"
        t = self.trace
        if not used:
            text = (f"0x{address:x}: in a free block of {size:,} bytes at 0x{start:x} "
                    f"after call {self.position:,}")
            # The last block placed in it, and the call that freed that.
            placed = self._placed[:self.position]
            inside = np.flatnonzero((placed >= start) & (placed < start - 16 + size))
            ended = int(t.freed_by[inside[-1]]) if len(inside) else -1
            if 0 <= ended < self.position:
                last = int(inside[-1])
                text += (f"\n  the last block placed in it was call {last:,}'s, "
                         f"{t.tag_name(t.tag[last])}({int(t.size[last]):,}), at "
                         f"0x{int(placed[last]):x}; call {ended:,}, {t.tag_name(t.tag[ended])}, "
                         f"freed it")
            return text
        lines = [f"0x{address:x}: in the block at 0x{start:x} ({size:,} bytes) that call "
                 f"{call:,}, {t.tag_name(t.tag[call])}({int(t.size[call]):,}), placed under "
                 f"{self.policy}"]
        stack = int(t.stack[call])
        if stack:
            for n, frame in enumerate(t.symbolize([stack])[stack]):
                line = f" at {frame.file}:{frame.line}" if frame.file else ""
                lines.append(f"    #{n} {frame_label(frame)}{line}")
        looked, count = self.looked_at(call)
        lines.append(f"  {self.policy} looked at {count:,} free block{'s' if count != 1 else ''} "
                     f"to place it{':' if count else ''}")
        for payload, free_size in looked[:EXPLAIN_LOOKED]:
            chosen = payload - 16 <= start - 16 < payload - 16 + free_size
            verdict = "chosen" if chosen else ("big enough" if free_size >= size else "too small")
            lines.append(f"    0x{payload:x}: {free_size:,} bytes, {verdict}")
        if count > EXPLAIN_LOOKED:
            lines.append(f"    ... and {count - EXPLAIN_LOOKED:,} more")
        if not any(p - 16 <= start - 16 < p - 16 + s for p, s in looked):
            lines.append("  none of them: it was carved from the heap's top (grown if need be)")
        return "\n".join(lines)

    def looked_at(self, call):
        """(blocks, count): the free blocks the policy looked at to serve
        `call` (address and size, in the order it looked, at most
        LOOKED_KEPT of them), and how many it looked at.  Replays the call
        once more, watched, and comes back to where the heap was."""
        core = _load_core()
        ffi, lib = core.ffi, core.lib
        back = self.position
        self.goto(call)
        seen = np.zeros(2 * LOOKED_KEPT, dtype=np.uint64)
        lib.hmm_replay_watch(self.heap._heap, _pointer(ffi, seen), LOOKED_KEPT)
        try:
            self._replay_to(call + 1)
            self.position = call + 1
            count = lib.hmm_replay_watched(self.heap._heap)
        finally:
            lib.hmm_replay_watch(self.heap._heap, ffi.NULL, 0)
        self.goto(back)
        kept = min(count, LOOKED_KEPT)
        return [tuple(pair) for pair in seen[:2 * kept].reshape(-1, 2).tolist()], count

    def snapshot(self):
        """The heap now, as a Replay whose "peak" is this call: for
        where_the_bytes_went() and the pictures of the heap at its peak
        (hmm replay --at)."""
        stats = self.heap.stats()
        blocks = self._now()
        return Replay(self.policy, self.position, 0, 0, stats["heap_size"], self.position, 0, 0,
                      stats["heap_size"] + stats["mapped_bytes"], 0, 0,
                      free_at_peak=blocks.size[~blocks.used].tolist(), heap=self.heap,
                      peak_blocks=blocks, peak_heap_size_at_peak=stats["heap_size"],
                      peak_mapped=stats["mapped_bytes"], peak_footprint_call=self.position)

    def where_the_bytes_went(self):
        """Where the heap's bytes and its mappings' went now (Replay's
        where_the_bytes_went, at this call)."""
        return self.snapshot().where_the_bytes_went(self.trace)

    def picture(self, path=None):
        """The heap now, drawn as `picture` draws a peak."""
        from .heap_pictures import heap_at_peak
        return heap_at_peak(self.trace, [self.snapshot()], path,
                            when=f"after call {self.position:,}")
