"""A trace of a program's heap, as ``hmm-run --trace FILE prog`` wrote it.

    >>> from hmm import Trace
    >>> t = Trace.load("prog.trace")
    >>> len(t), t.pid, t.threads
    >>> t.size[t.ret != 0].sum()          # bytes asked for by calls that got them
    >>> print(t.summary())                # see hmm.trace_report
    >>> for leak in t.leaks(): print(leak)

The calls are numpy columns, one entry per call in the order they happened
(call number i is entry i): ``time`` (rdtsc ticks), ``thread``, ``tag``
(``TAG_NAMES[tag]`` is the function's name), ``stack``, ``size``,
``alignment``, ``ptr`` (passed), ``ret`` (returned) and ``result``;
csrc/trace_read.h says exactly what each holds for each function.  ``ns``
and ``seconds`` give the time, and ``freed_by`` / ``frees`` pair every
block with the call that freed it.  ``stacks`` maps a stack number to its
return addresses, innermost first, and ``symbolize`` names them.

The file is decoded in C (hmm._core, csrc/trace_read.c): a Python loop over
varints would take minutes on a trace of millions of calls.  Python reads
only the few records that describe the process (modules, clocks, execs).

A damaged or cut trace is not all lost: ``load`` keeps the calls before the
first bad record, sets ``error`` (a TraceError naming the byte offset) and
warns; ``load(..., strict=True)`` raises instead.  A file that is not a
trace at all raises TraceError.
"""
import collections
import mmap
import os
import warnings

import numpy as np

from .heap import _load_core

CLOCK_CHUNK = 1 << 20   # calls whose times milliseconds() converts at a time
COLUMNS = ("time", "thread", "tag", "stack", "size", "alignment", "ptr", "ret", "result")
_DTYPES = {"time": np.uint64, "thread": np.uint32, "tag": np.uint8, "stack": np.uint32,
           "size": np.uint64, "alignment": np.uint64, "ptr": np.uint64, "ret": np.uint64,
           "result": np.int64}
_NOTE_COLUMNS = {"note_tag": np.uint8, "note_offset": np.uint64, "note_call": np.uint64,
                 "note_stack": np.uint64, "note_a": np.uint64, "note_b": np.uint64}


class TraceError(ValueError):
    """What is wrong with a trace file, and where.

    ``path``: the file; ``offset``: the byte where the problem is (the
    start of the first bad record); ``reason``: what is wrong; ``code``:
    the reader's name for it ("cut_record", "bad_tag"... see
    csrc/trace_read.h), None when it was not the reader's.
    """

    def __init__(self, path, offset, reason, code=None):
        self.path, self.offset, self.reason, self.code = path, offset, reason, code
        super().__init__(f"{path}: byte {offset:,}: {reason}")


class TraceWarning(UserWarning):
    """A trace was read only up to a damaged or missing part."""


Module = collections.namedtuple("Module", "path bias segments image stacks_before")
Module.__doc__ = """An object file loaded in the process (a MODULE record).

path:          its file ("" for the vdso)
bias:          the load bias: a code address ip is at ip - bias in the file
segments:      its loaded segments, (p_vaddr, p_memsz) pairs
image:         which program of the process it was loaded in: 0 at the
               start, 1 after the first exec...
stacks_before: how many stacks were written before it (the stacks it can
               be part of come after)
"""

Exec = collections.namedtuple("Exec", "path call stacks_before tsc")
Exec.__doc__ = """The process exec'ed `path` before call number `call` (an EXEC
record), at tick `tsc`; `stacks_before` stacks were written before it."""

Misuse = collections.namedtuple("Misuse", "message call")
Misuse.__doc__ = """HMM found a misuse in call number `call` and aborted the
program; `message` is the line it printed."""


def _tag_tables():
    lib = _load_core().lib
    ffi = _load_core().ffi
    names, kinds = {}, np.zeros(256, dtype=np.uint8)
    for tag in range(256):
        name = lib.hmm_trace_tag_name(tag)
        if name != ffi.NULL:
            names[tag] = ffi.string(name).decode("ascii")
        kinds[tag] = lib.hmm_trace_tag_kind(tag)
    return names, kinds


class _Tags:
    """The tag tables of the C reader, loaded on first use."""
    _names = _kinds = None

    @classmethod
    def names(cls):
        if cls._names is None:
            cls._names, cls._kinds = _tag_tables()
        return cls._names

    @classmethod
    def kinds(cls):
        cls.names()
        return cls._kinds


def tag_names():
    """{tag: name}: "malloc", "free"... for calls, "STACK"... for the rest."""
    return dict(_Tags.names())


def kind_mask(bit):
    """A 256-entry boolean table: tags whose kind has `bit` (one of
    hmm._core.lib.HMM_TRACE_*)."""
    return (_Tags.kinds() & bit) != 0


def _error_code(error):
    """"cut_record" for HMM_TRACE_CUT_RECORD."""
    names = _load_core().ffi.typeof("enum hmm_trace_error").elements
    return names.get(error, "HMM_TRACE_UNKNOWN")[len("HMM_TRACE_"):].lower()


def _varint(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _power_of_two_above(n):
    return 1 << max(1, int(n).bit_length())


class Trace:
    """One process's calls of the malloc functions; see the module's text."""

    def __init__(self):
        self.path = None
        self.error = None
        self.warnings = []

    # ---- loading -----------------------------------------------------------

    @classmethod
    def load(cls, path, strict=False, progress=None):
        """Read the trace at `path`.

        strict:   raise TraceError on a damaged or cut trace instead of
                  keeping the calls before the damage (and warning).
        progress: None, or a function called with a line of text at each
                  step of a long read ("reading 12,345,678 records...").
        """
        path = os.fspath(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return cls._from_bytes(b"", path, strict, progress)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return cls._from_bytes(data, path, strict, progress)

    @classmethod
    def from_bytes(cls, data, name="<bytes>", strict=False, progress=None):
        """Read a trace held in memory (bytes, bytearray, memoryview)."""
        return cls._from_bytes(data, name, strict, progress)

    @classmethod
    def _from_bytes(cls, data, path, strict, progress):
        core = _load_core()
        ffi, lib = core.ffi, core.lib
        self = cls()
        self.path = path
        self._progress = progress
        with ffi.from_buffer("uint8_t[]", data) as buf:
            info = ffi.new("hmm_trace_info *")
            lib.hmm_trace_read(buf, len(data), info, ffi.NULL)
            if info.error in (lib.HMM_TRACE_NOT_A_TRACE, lib.HMM_TRACE_BAD_VERSION,
                              lib.HMM_TRACE_BAD_HEADER):
                reason = ffi.string(lib.hmm_trace_error_text(info.error)).decode()
                if info.error == lib.HMM_TRACE_BAD_VERSION:
                    reason += f" (version {info.version}; this reader knows 1)"
                raise TraceError(path, info.error_offset, reason, _error_code(info.error))
            self._say(f"reading {info.calls:,} records...")
            counted = (info.calls, info.stacks, info.frames, info.notes, info.end)
            arrays, columns = self._columns(info)
            lib.hmm_trace_read(buf, len(data), info, columns)
            if (info.calls, info.stacks, info.frames, info.notes, info.end) != counted:
                raise AssertionError("the trace reader's two passes disagree")  # pragma: no cover
            self._keep_header(info)
            for name in COLUMNS:
                setattr(self, name, arrays[name])
            self._read_stacks(arrays)
            self._read_notes(data, arrays)
        self.end = info.end
        if info.error != lib.HMM_TRACE_OK:
            self.error = TraceError(path, info.error_offset, self._error_reason(info, data),
                                    _error_code(info.error))
            if strict:
                raise self.error
            warnings.warn(f"{self.error}; read the {len(self):,} calls before it",
                          TraceWarning, stacklevel=3)
        self._pairs = None
        self._ns = None
        self._symbolizer = None
        return self

    def _say(self, line):
        if self._progress is not None:
            self._progress(line)

    @staticmethod
    def _columns(info):
        """Numpy arrays for everything pass 1 counted, and the C struct
        that points at them."""
        core = _load_core()
        ffi = core.ffi
        id_capacity = _power_of_two_above(2 * (info.stacks + 1))
        arrays = {name: _array(info.calls, _DTYPES[name]) for name in COLUMNS}
        arrays.update({name: _array(info.notes, dtype) for name, dtype in _NOTE_COLUMNS.items()})
        arrays["stack_start"] = _array(info.stacks + 2, np.uint64)
        arrays["frames"] = _array(info.frames, np.uint64)
        arrays["id_keys"] = _array(id_capacity, np.uint64)
        arrays["id_values"] = _array(id_capacity, np.uint32)
        columns = ffi.new("hmm_trace_columns *")
        columns.capacity = info.calls
        columns.stack_capacity = info.stacks
        columns.frame_capacity = info.frames
        columns.id_capacity = id_capacity
        columns.note_capacity = info.notes
        for name, array in arrays.items():
            setattr(columns, name, _pointer(ffi, array))
        return arrays, columns

    def _keep_header(self, info):
        self.version = info.version
        self.depth = info.depth
        self.pid = info.pid
        self.ppid = info.ppid
        self.start_time = info.start_time
        self.start_tsc = info.tsc
        self.start_ns = info.monotonic_ns
        self.start_realtime_ns = info.realtime_ns
        self.length = info.length
        self.header_size = info.header_size

    def _error_reason(self, info, data):
        core = _load_core()
        lib, ffi = core.lib, core.ffi
        reason = ffi.string(lib.hmm_trace_error_text(info.error)).decode()
        if info.error == lib.HMM_TRACE_BAD_TAG:
            reason += f" (0x{data[info.error_offset]:02x})"
        elif info.error == lib.HMM_TRACE_CUT_SHORT:
            reason += (f" (the header counts {info.length:,} bytes of records, to byte "
                       f"{info.header_size + info.length:,})")
        return reason

    def _read_stacks(self, arrays):
        start = arrays["stack_start"].tolist()
        frames = arrays["frames"].tolist()
        self.stacks = {k: tuple(frames[start[k]:start[k + 1]]) for k in range(1, len(start) - 1)}

    def _read_notes(self, data, arrays):
        tags = _Tags.names()
        self.modules, self.execs, self.misuse = [], [], []
        self.lost = 0
        self._heap_changes = []   # (the first call it holds for, the heap's size)
        self._heap_recorded = False   # any HEAP record
        self.finished = False
        self.finish_call = None   # the calls before the exit began
        clock_tsc, clock_ns = [self.start_tsc], [self.start_ns]
        columns = [arrays[name].tolist() for name in _NOTE_COLUMNS]
        for tag, offset, call, stacks_before, a, b in zip(*columns):
            name = tags[tag]
            if name == "MODULE":
                bias, pos = _varint(data, offset + 1)
                length, pos = _varint(data, pos)
                path = os.fsdecode(bytes(data[pos:pos + length]))
                count, pos = _varint(data, pos + length)
                segments = []
                for _ in range(count):
                    vaddr, pos = _varint(data, pos)
                    memsz, pos = _varint(data, pos)
                    segments.append((vaddr, memsz))
                self.modules.append(Module(path, bias, tuple(segments), len(self.execs),
                                           stacks_before))
            elif name == "EXEC":
                _, pos = _varint(data, offset + 1)  # its tsc, which C read as a
                length, pos = _varint(data, pos)
                path = os.fsdecode(bytes(data[pos:pos + length]))
                self.execs.append(Exec(path, call, stacks_before, a))
                self._heap_changes.append((call, 0))   # the new program's heap starts empty
            elif name == "CLOCK":
                clock_tsc.append(a)
                clock_ns.append(b)
            elif name == "LOST":
                self.lost += a
            elif name == "MISUSE":
                length, pos = _varint(data, offset + 1)
                message = bytes(data[pos:pos + length]).decode("utf-8", "replace")
                self.misuse.append(Misuse(message, call - 1))
            elif name == "FINISH":
                self.finished = True
                self.finish_call = call
            elif name == "HEAP":
                self._heap_changes.append((call - 1, a))   # after the call before it
                self._heap_recorded = True
        self.clocks = (np.array(clock_tsc, dtype=np.uint64), np.array(clock_ns, dtype=np.uint64))

    # ---- what was read -----------------------------------------------------

    def __len__(self):
        return len(self.tag)

    def __repr__(self):
        return (f"<Trace {self.path!r}: pid {self.pid}, {len(self):,} calls, "
                f"{len(self.stacks):,} stacks{', error' if self.error else ''}>")

    @property
    def threads(self):
        """The thread ids, in the order of their first call."""
        ids, first = np.unique(self.thread, return_index=True)
        return tuple(int(t) for t in ids[np.argsort(first)])

    @property
    def images(self):
        """The programs the process ran: its first (path unknown: None),
        then one per exec."""
        return [None] + [e.path for e in self.execs]

    def image_of_calls(self):
        """For each call, which program of the process made it (0 before
        any exec, 1 after the first...)."""
        execs = np.array([e.call for e in self.execs], dtype=np.int64)
        return np.searchsorted(execs, np.arange(len(self)), side="right")

    def image_of_stack(self, stack):
        """Which program of the process stack number `stack` belongs to."""
        return sum(1 for e in self.execs if e.stacks_before < stack)

    # ---- time --------------------------------------------------------------

    @property
    def ns(self):
        """Each call's time, CLOCK_MONOTONIC nanoseconds (int64): the ticks
        turned into time between the clock readings the trace holds, and
        beyond the last ones at their average rate."""
        if self._ns is None:
            self._ns = self._ticks_to_ns(self.time)
        return self._ns

    @property
    def seconds(self):
        """Each call's time in seconds since the process started tracing."""
        return (self.ns - np.int64(self.start_ns)) / 1e9

    def seconds_at(self, calls):
        """The time of the given calls (numbers), in seconds since the
        start: for a few calls, much cheaper than all of `seconds`."""
        calls = np.asarray(calls, dtype=np.int64)
        if self._ns is not None:
            ns = self._ns[calls]
        else:
            ns = self._ticks_to_ns(self.time[calls])
        return (ns - np.int64(self.start_ns)) / 1e9

    def milliseconds(self):
        """Each call's time in whole milliseconds since the start (int64;
        the replay's clock for the heap's trim delay).  Made a chunk of
        calls at a time, without `ns` for all of them: for ten million
        calls that would be 80 MB more, and its temporaries hundreds."""
        n = len(self)
        ms = np.empty(n, dtype=np.int64)
        start = np.int64(self.start_ns)
        for lo in range(0, n, CLOCK_CHUNK):
            part = slice(lo, lo + CLOCK_CHUNK)
            ns = self._ns[part] if self._ns is not None else self._ticks_to_ns(self.time[part])
            np.floor_divide(ns - start, 1_000_000, out=ms[part])
        return ms

    def _ticks_to_ns(self, ticks):
        tsc, ns = self.clocks
        order = np.argsort(tsc, kind="stable")
        tsc, ns = tsc[order], ns[order]
        keep = np.concatenate(([True], np.diff(tsc) > 0))
        tsc, ns = tsc[keep], ns[keep]
        # Relative to the first reading, in float64: absolute tick counts
        # are too big for exact float arithmetic.
        x_anchor = (tsc - tsc[0]).view(np.int64).astype(np.float64)
        y_anchor = (ns - ns[0]).view(np.int64).astype(np.float64)
        x = (np.asarray(ticks, dtype=np.uint64) - tsc[0]).view(np.int64).astype(np.float64)
        self.clock_rate_known = len(x_anchor) >= 2 and y_anchor[-1] > 0
        if not self.clock_rate_known:
            # One reading only (a trace cut right after its start): no
            # rate, so count a tick as a nanosecond and say so.
            warning = "the trace holds one clock reading: times are ticks taken as nanoseconds"
            if warning not in self.warnings:
                self.warnings.append(warning)
            return np.int64(ns[0]) + x.astype(np.int64)
        rate = y_anchor[-1] / x_anchor[-1]
        y = np.interp(x, x_anchor, y_anchor)
        before, after = x < x_anchor[0], x > x_anchor[-1]
        y[before] = y_anchor[0] + (x[before] - x_anchor[0]) * rate
        y[after] = y_anchor[-1] + (x[after] - x_anchor[-1]) * rate
        # In place where it can be: ten million calls make 80 MB arrays,
        # and each new one is memory the kernel must hand over zeroed.
        del x
        np.round(y, out=y)
        result = y.astype(np.int64)
        result += np.int64(ns[0])
        return result

    # ---- blocks ------------------------------------------------------------

    def _pair(self):
        if self._pairs is not None:
            return self._pairs
        core = _load_core()
        ffi, lib = core.ffi, core.lib
        n = len(self)
        self._say(f"pairing {n:,} calls...")
        freed_by = np.empty(n, dtype=np.int64)
        frees = np.empty(n, dtype=np.int64)
        execs = np.array([e.call for e in self.execs], dtype=np.uint64)
        columns = ffi.new("hmm_trace_columns *")
        columns.capacity = n
        keep = {}
        for name in ("tag", "size", "ptr", "ret"):
            keep[name] = np.ascontiguousarray(getattr(self, name))
            setattr(columns, name, _pointer(ffi, keep[name]))
        live, table = _blocks_table(ffi, 1 << 12)
        position = 0
        while True:
            position = lib.hmm_trace_pair(columns, n, _pointer(ffi, execs), len(execs), position,
                                          live, _pointer(ffi, freed_by), _pointer(ffi, frees))
            if position >= n:
                break
            if live.count < live.capacity // 2:  # it stopped for another reason than room
                raise AssertionError("hmm_trace_pair refused its arguments")  # pragma: no cover
            bigger, bigger_table = _blocks_table(ffi, live.capacity * 2)
            if lib.hmm_trace_blocks_move(live, bigger) != 0:
                raise AssertionError("could not grow the table of live blocks")  # pragma: no cover
            live, table = bigger, bigger_table
        del table
        self._pairs = (freed_by, frees)
        return self._pairs

    @property
    def freed_by(self):
        """For each call, the call that ended the block it returned (its
        free, or a later call that got the same address with no free
        recorded between), -1 when none did (see hmm_trace_pair)."""
        return self._pair()[0]

    @property
    def frees(self):
        """For each call, the call whose block it freed, -1 when none."""
        return self._pair()[1]

    def heap_sizes(self):
        """The process heap's size after each call (from the HEAP records),
        as a uint64 array; None for a trace without them (an older or a
        foreign one).  Exact for a single-threaded program: with more
        threads a change may show a call early or late."""
        if not self._heap_recorded:
            return None
        changes = sorted(((max(call, 0), size) for call, size in self._heap_changes),
                         key=lambda change: change[0])   # stable: in the file's order
        starts = np.array([c for c, _ in changes], dtype=np.int64)
        values = np.array([0] + [v for _, v in changes], dtype=np.uint64)
        # For call i, the last change that starts at or before it (0 before any).
        return values[np.searchsorted(starts, np.arange(len(self)), side="right")]

    def tag_name(self, tag):
        return _Tags.names().get(int(tag), f"tag 0x{int(tag):02x}")

    # ---- symbols and reports -----------------------------------------------

    def symbolizer(self):
        if self._symbolizer is None:
            from .symbols import Symbolizer
            self._symbolizer = Symbolizer(self.modules)
        return self._symbolizer

    def symbolize(self, stacks):
        """{stack number: [Frame, ...]} for the given stack numbers, frames
        innermost first, named from the modules' symbols (hmm.symbols)."""
        stacks = [int(s) for s in stacks]
        wanted = {s: self.stacks.get(s, ()) for s in stacks}
        images = {s: self.image_of_stack(s) for s in stacks}
        return self.symbolizer().stacks(wanted, images)

    def replay(self, policy="segregated", first_pass=True):
        """The heap under `policy`, to look around in call by call (a
        hmm.replay.ReplayedHeap: goto, step, peak, blocks, explain,
        picture, and the whole replay's figures), before the first call.

        `first_pass`: replay every call once first, saving checkpoints on
        the way, so that any goto() after replays at most a checkpoint's
        stretch (for ten million calls: a first pass of one or two
        seconds here, then under a second a seek)."""
        from .replay import ReplayedHeap
        heap = ReplayedHeap(self, policy)
        if first_pass:
            heap.goto(len(self)).goto(0)
        return heap

    def summary(self, top=10):
        """The summary report (hmm.trace_report.Summary); print() it."""
        from .trace_report import summarize
        return summarize(self, top=top)

    def leaks(self):
        """The blocks live at the end, grouped by stack, biggest first
        (hmm.trace_report.Leak); print() each."""
        from .trace_report import find_leaks
        return find_leaks(self)

    def timeline(self, points=2000):
        """Bytes in use over time (hmm.trace_report.Timeline)."""
        from .trace_report import timeline
        return timeline(self, points=points)


def _array(n, dtype):
    # One entry at least: the C reader takes a NULL pointer for a missing
    # array, and an empty numpy array may have none.
    return np.empty(max(n, 1), dtype=dtype)[:n]


def _pointer(ffi, array):
    """A C pointer to a numpy array's data, typed after its dtype."""
    ctype = {np.dtype(np.uint8): "uint8_t *", np.dtype(np.uint32): "uint32_t *",
             np.dtype(np.uint64): "uint64_t *", np.dtype(np.int64): "int64_t *"}[array.dtype]
    return ffi.cast(ctype, array.ctypes.data)


def _blocks_table(ffi, capacity):
    address = np.zeros(capacity, dtype=np.uint64)
    call = np.empty(capacity, dtype=np.int64)
    live = ffi.new("hmm_trace_blocks *")
    live.capacity = capacity
    live.count = 0
    live.address = _pointer(ffi, address)
    live.call = _pointer(ffi, call)
    return live, (address, call)
