"""What a trace says about a program's heap: its summary, its leaks, bytes
in use over time, and what changed between two traces.

Everything is computed over whole columns with numpy, from the blocks the
trace's calls returned (`blocks`): when each began and ended, its size and
its stack.  Bytes in use after call i is the running sum of +size at the
call that returned a block and -size at the call that ended it, so the peak
and who held it at that moment are one cumulative sum and one mask away.

Sizes are the sizes asked for, not what the allocator reserved.  A site is
one recorded stack; "bytes at peak" is what a site's blocks held at the
moment the whole heap peaked (memray's "peak memory"), so the sites' bytes
at peak add up to the peak.
"""
import collections
import dataclasses
from typing import List, Optional

import numpy as np

from .symbols import frame_label, frame_text
from .trace import kind_mask

# How a block ended (Blocks.how).
FREED, REUSED, EXEC, LIVE = 0, 1, 2, 3


@dataclasses.dataclass
class Blocks:
    """Every block the trace's calls returned, in call order.

    call:  the call that returned it
    size:  bytes asked for
    stack: its call's stack number
    end:   the call before which it stopped being in use: its free, a later
           call that returned its address again (REUSED: the free was not
           recorded), the first call after an exec (EXEC); len(trace) when
           it was live at the end (LIVE)
    how:   FREED, REUSED, EXEC or LIVE
    """
    call: np.ndarray
    size: np.ndarray
    stack: np.ndarray
    end: np.ndarray
    how: np.ndarray


def blocks(trace):
    """The trace's Blocks (computed once per trace)."""
    cached = getattr(trace, "_blocks_cache", None)
    if cached is not None:
        return cached
    from . import _core
    n = len(trace)
    allocates = kind_mask(_core.lib.HMM_TRACE_ALLOCATES)[trace.tag] & (trace.ret != 0)
    call = np.flatnonzero(allocates).astype(np.int64)
    end = trace.freed_by[call].copy()
    how = np.full(len(call), FREED, dtype=np.uint8)
    ended = end >= 0
    # A block ended by a call that did not free it was ended by its address
    # coming back: its free went unrecorded.
    genuine = trace.frees[end[ended]] == call[ended]
    how[ended] = np.where(genuine, FREED, REUSED)
    never = np.flatnonzero(~ended)
    how[never] = LIVE
    end[never] = n
    execs = np.array([e.call for e in trace.execs], dtype=np.int64)
    if len(execs) and len(never):
        following = np.searchsorted(execs, call[never], side="right")
        gone = following < len(execs)
        how[never[gone]] = EXEC
        end[never[gone]] = execs[following[gone]]
    result = Blocks(call, trace.size[call].view(np.int64), trace.stack[call], end, how)
    trace._blocks_cache = result
    return result


def in_use(trace):
    """Bytes in use after each call (int64 array, one entry per call)."""
    cached = getattr(trace, "_in_use_cache", None)
    if cached is not None:
        return cached
    b = blocks(trace)
    n = len(trace)
    delta = np.zeros(n + 1, dtype=np.int64)
    delta[b.call] = b.size  # one block per call at most
    freed = b.how == FREED  # one block per freeing call: no index twice
    delta[b.end[freed]] -= b.size[freed]
    other = (b.how == REUSED) | (b.how == EXEC)  # few, and may share a call
    np.subtract.at(delta, b.end[other], b.size[other])
    result = delta[:n]
    np.cumsum(result, out=result)  # in place: a new array of that size costs more than the sum
    trace._in_use_cache = result
    return result


def plural(count, word):
    """ "1 block", "2 blocks" (with thousands separators)."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _sum_by(keys, values, count):
    """Exact int64 sums of `values` grouped by small int `keys`."""
    if not len(keys):
        return np.zeros(count, dtype=np.int64)
    if len(values) and int(values.max()) < (1 << 53) // max(len(values), 1):
        return np.rint(np.bincount(keys, weights=values.astype(np.float64),
                                   minlength=count)).astype(np.int64)
    sums = np.zeros(count, dtype=np.int64)
    np.add.at(sums, keys, values)
    return sums


# ---- sites ---------------------------------------------------------------------

@dataclasses.dataclass
class Site:
    """An allocation site (a stack) and what it counts for in one list.

    bytes: the bytes the list is about (at the peak, live at exit, or
           allocated in all); blocks: how many blocks (or calls) they are;
    frames: the stack, innermost first (hmm.symbols.Frame).
    """
    stack: int
    bytes: int
    blocks: int
    frames: list = dataclasses.field(default_factory=list)

    def stack_text(self, indent="    "):
        if not self.frames:
            return [f"{indent}(no stack recorded)"]
        return [f"{indent}#{i} 0x{f.address:x} in {frame_text(f)}" for i, f in enumerate(self.frames)]

    def to_dict(self):
        return {"stack": self.stack, "bytes": self.bytes, "blocks": self.blocks,
                "frames": [frame_dict(f) for f in self.frames]}


def frame_dict(frame):
    return {"address": frame.address, "module": frame.module, "offset": frame.offset,
            "function": frame.function, "file": frame.file, "line": frame.line}


def _top(by_stack_bytes, by_stack_count, top, by_count=False):
    """Sites, biggest first: by bytes (the count breaks ties), or by count
    (the bytes break ties); all of them when `top` is 0."""
    stacks = np.flatnonzero((by_stack_bytes > 0) | (by_stack_count > 0))
    first, second = -by_stack_bytes[stacks], -by_stack_count[stacks]
    if by_count:
        first, second = second, first
    order = np.lexsort((stacks, second, first))
    chosen = stacks[order]
    if top:
        chosen = chosen[:top]
    return [Site(int(s), int(by_stack_bytes[s]), int(by_stack_count[s])) for s in chosen]


def _symbolize(trace, sites):
    wanted = sorted({s.stack for s in sites if s.stack})
    if wanted:
        trace._say(f"naming {len(wanted):,} stacks...")
    frames = trace.symbolize(wanted)
    for site in sites:
        site.frames = frames.get(site.stack, [])
    return sites


# ---- the summary -----------------------------------------------------------------

@dataclasses.dataclass
class Summary:
    """The numbers of `hmm report --summary`; str() is the text."""
    path: str
    pid: int
    ppid: int
    programs: List[Optional[str]]
    threads: List[tuple]            # (tid, calls), most calls first
    calls: int
    seconds: float
    calls_by_function: dict         # name -> count, most first
    allocated_bytes: int
    allocated_blocks: int
    temporary_blocks: int           # freed before any other allocation
    peak_bytes: int
    peak_call: Optional[int]
    peak_seconds: Optional[float]
    live_bytes: int                 # live at exit (the last program's)
    live_blocks: int
    exec_bytes: int                 # live when the process exec'ed (gone)
    exec_blocks: int
    failed_allocations: int
    bad_frees: int                  # frees of a pointer that was no live block
    lost_calls: int
    misuse: list
    finished: bool
    error: Optional[str]
    notes: List[str]                # what the reader could not tell exactly
    top_peak: List[Site]
    top_calls: List[Site]
    top_live: List[Site]

    def to_dict(self):
        d = dataclasses.asdict(self)
        for name in ("top_peak", "top_calls", "top_live"):
            d[name] = [site.to_dict() for site in getattr(self, name)]
        d["misuse"] = [{"message": m.message, "call": m.call} for m in self.misuse]
        d["threads"] = [{"tid": tid, "calls": calls} for tid, calls in self.threads]
        return d

    def __str__(self):
        lines = []
        if self.error:
            lines.append(f"warning: {self.error}")
            lines.append(f"         this report covers the {self.calls:,} calls before it")
        lines.append(f"trace: {self.path}")
        lines.append(f"process: pid {self.pid}, parent {self.ppid}; {self.calls:,} calls in "
                     f"{self.seconds:.3f} s")
        if len(self.programs) > 1:
            lines.append("programs: " + ", then ".join(p or "(the first)" for p in self.programs))
        shown = "; ".join(f"tid {tid}: {plural(calls, 'call')}" for tid, calls in self.threads[:8])
        more = f"; and {len(self.threads) - 8} more" if len(self.threads) > 8 else ""
        lines.append(f"threads: {len(self.threads)}" + (f" ({shown}{more})" if self.threads else ""))
        if not self.finished:
            lines.append("the trace has no FINISH record: the program crashed or was killed, "
                         "and 'at exit' means when it stopped")
        lines += [f"note: {note}" for note in self.notes]
        lines.append("")
        lines.append("calls:")
        for name, count in self.calls_by_function.items():
            lines.append(f"  {name:<20} {count:>14,}")
        lines.append("")
        lines.append(f"allocated:     {plural(self.allocated_bytes, 'byte')} in "
                     f"{plural(self.allocated_blocks, 'block')}")
        lines.append(f"temporary:     {plural(self.temporary_blocks, 'block')} freed before any "
                     "other allocation")
        if self.peak_call is None:
            lines.append("peak in use:   0 bytes")
        else:
            lines.append(f"peak in use:   {self.peak_bytes:,} bytes, after call {self.peak_call:,} "
                         f"at {self.peak_seconds:.6f} s")
        lines.append(f"live at exit:  {plural(self.live_bytes, 'byte')} in "
                     f"{plural(self.live_blocks, 'block')}")
        if self.exec_blocks:
            lines.append(f"live at exec:  {plural(self.exec_bytes, 'byte')} in "
                         f"{plural(self.exec_blocks, 'block')} (gone with the program that exec'ed)")
        if self.failed_allocations:
            lines.append(f"failed:        {self.failed_allocations:,} allocations returned NULL")
        if self.bad_frees:
            lines.append(f"bad frees:     {self.bad_frees:,} frees of a pointer that was no live "
                         "block (double or invalid frees)")
        if self.lost_calls:
            lines.append(f"not recorded:  {self.lost_calls:,} calls (made from signal handlers); "
                         "counts may be off")
        for m in self.misuse:
            lines.append(f"misuse:        in call {m.call:,}, and HMM aborted the program: "
                         f"{m.message}")
        for title, sites, what, unit in (
                ("top sites by bytes at the peak", self.top_peak, "at the peak", "block"),
                ("top sites by allocations", self.top_calls, "allocated", "call"),
                ("top sites by bytes live at exit", self.top_live, "live at exit", "block")):
            lines.append("")
            lines.append(f"{title}:")
            if not sites:
                lines.append("  (none)")
            for site in sites:
                lines.append(f"  {plural(site.bytes, 'byte')} in {plural(site.blocks, unit)} {what}, "
                             "from:")
                lines += site.stack_text("      ")
        return "\n".join(lines)


def summarize(trace, top=10):
    """The Summary of a trace; `top` sites in each list (0: all)."""
    from . import _core
    n = len(trace)
    b = blocks(trace)
    trace._say("summarizing...")
    curve = in_use(trace)
    nstacks = len(trace.stacks) + 1

    names = trace.tag_name
    counts = np.bincount(trace.tag, minlength=256)
    by_function = {names(tag): int(counts[tag]) for tag in np.argsort(-counts, kind="stable")
                   if counts[tag]}
    tids, per_thread = np.unique(trace.thread, return_counts=True)
    order = np.lexsort((tids, -per_thread))
    threads = [(int(tids[i]), int(per_thread[i])) for i in order]

    if n and len(b.call):
        peak_call = int(np.argmax(curve))
        peak_bytes = int(curve[peak_call])
    else:
        peak_call, peak_bytes = None, 0
    live = b.how == LIVE
    gone = b.how == EXEC
    # Temporary: the next allocation came at or after the block's end.
    next_alloc = np.append(b.call[1:], n)
    temporary = (b.how == FREED) & (next_alloc >= b.end)

    allocates = kind_mask(_core.lib.HMM_TRACE_ALLOCATES)[trace.tag]
    resizes = kind_mask(_core.lib.HMM_TRACE_RESIZES)[trace.tag]
    frees = kind_mask(_core.lib.HMM_TRACE_FREES)[trace.tag]
    failed = allocates & (trace.ret == 0) & ~(resizes & (trace.size == 0))
    failed_realloc = resizes & (trace.ret == 0) & (trace.size != 0)
    bad = frees & (trace.ptr != 0) & (trace.frees < 0) & ~failed_realloc

    if peak_call is not None:
        at_peak = (b.call <= peak_call) & (b.end > peak_call)
    else:
        at_peak = np.zeros(len(b.call), dtype=bool)
    stack = b.stack.astype(np.int64)
    top_peak = _top(_sum_by(stack[at_peak], b.size[at_peak], nstacks),
                    np.bincount(stack[at_peak], minlength=nstacks), top)
    top_calls = _top(_sum_by(stack, b.size, nstacks), np.bincount(stack, minlength=nstacks), top,
                     by_count=True)
    top_live = _top(_sum_by(stack[live], b.size[live], nstacks),
                    np.bincount(stack[live], minlength=nstacks), top)
    _symbolize(trace, top_peak + top_calls + top_live)
    last_seconds = float(trace.seconds_at([n - 1])[0]) if n else 0.0
    notes = list(trace.warnings)
    if trace.depth == 0:
        notes.append("the trace has no stacks: it was recorded with a stack depth of 0")

    return Summary(
        path=str(trace.path), pid=trace.pid, ppid=trace.ppid, programs=trace.images,
        threads=threads, calls=n,
        seconds=last_seconds,
        calls_by_function=by_function,
        allocated_bytes=int(b.size.sum()), allocated_blocks=len(b.call),
        temporary_blocks=int(temporary.sum()),
        peak_bytes=peak_bytes, peak_call=peak_call,
        peak_seconds=float(trace.seconds_at([peak_call])[0]) if peak_call is not None else None,
        live_bytes=int(b.size[live].sum()), live_blocks=int(live.sum()),
        exec_bytes=int(b.size[gone].sum()), exec_blocks=int(gone.sum()),
        failed_allocations=int(failed.sum()), bad_frees=int(bad.sum()),
        lost_calls=int(trace.lost), misuse=list(trace.misuse), finished=bool(trace.finished),
        error=str(trace.error) if trace.error else None, notes=notes,
        top_peak=top_peak, top_calls=top_calls, top_live=top_live)


# ---- leaks -----------------------------------------------------------------------

@dataclasses.dataclass
class Leak(Site):
    """Blocks of one stack still live at exit; str() says it as valgrind
    would, with the stack a C developer follows to the line."""

    def __str__(self):
        head = (f"{plural(self.bytes, 'byte')} in {plural(self.blocks, 'block')} still live at "
                "exit, allocated at:")
        return "\n".join([head] + self.stack_text())


def find_leaks(trace, symbolize=True):
    """The blocks live at the end of the trace, grouped by stack, biggest
    first (hmm.trace_report.Leak)."""
    b = blocks(trace)
    live = b.how == LIVE
    nstacks = len(trace.stacks) + 1
    stack = b.stack[live].astype(np.int64)
    sites = _top(_sum_by(stack, b.size[live], nstacks), np.bincount(stack, minlength=nstacks), 0)
    leaks = [Leak(s.stack, s.bytes, s.blocks) for s in sites]
    if symbolize:
        _symbolize(trace, leaks)
    return leaks


def leaks_text(leaks, top=0):
    """The leak report: every leak, or the `top` biggest and a count of
    the rest."""
    if not leaks:
        return "no leaks: every block was freed"
    shown = leaks[:top] if top else leaks
    total = sum(leak.bytes for leak in leaks)
    blocks_total = sum(leak.blocks for leak in leaks)
    parts = [str(leak) for leak in shown]
    if len(shown) < len(leaks):
        rest = leaks[len(shown):]
        parts.append(f"... and {plural(len(rest), 'more site')} with "
                     f"{plural(sum(r.bytes for r in rest), 'byte')} (--top 0 lists them all)")
    parts.append(f"in all: {plural(total, 'byte')} in {plural(blocks_total, 'block')} still live "
                 f"at exit, from {plural(len(leaks), 'site')}")
    return "\n\n".join(parts)


# ---- the timeline ------------------------------------------------------------------

@dataclasses.dataclass
class Timeline:
    """Bytes in use over time, at most `points` points: each point is the
    most bytes in use among a run of consecutive calls (so the peak is one
    of them), at the time of the call that reached it."""
    seconds: np.ndarray
    calls: np.ndarray
    bytes: np.ndarray


def timeline(trace, points=2000):
    n = len(trace)
    curve = in_use(trace)
    if n == 0:
        empty = np.zeros(0)
        return Timeline(empty, empty.astype(np.int64), empty.astype(np.int64))
    if n <= points:
        calls = np.arange(n)
    else:
        bounds = np.linspace(0, n, points + 1).astype(np.int64)
        starts = bounds[:-1]
        width = int(np.max(np.diff(bounds)))
        # The index of the maximum in each run: pad the runs to one width.
        index = np.minimum(starts[:, None] + np.arange(width)[None, :], n - 1)
        index = np.where(index < bounds[1:, None], index, starts[:, None])
        best = np.argmax(curve[index], axis=1)
        calls = index[np.arange(len(starts)), best]
    return Timeline(trace.seconds_at(calls), calls.astype(np.int64), curve[calls])


# ---- the difference between two traces --------------------------------------------

@dataclasses.dataclass
class SiteChange:
    frames: list
    peak: tuple     # (base, new) bytes at the peak
    leaked: tuple   # (base, new) bytes live at exit


@dataclasses.dataclass
class Diff:
    base: str
    new: str
    peak: tuple
    leaked: tuple
    grown: List[SiteChange]

    def __str__(self):
        def change(pair):
            before, after = pair
            return f"{before:,} -> {after:,} ({after - before:+,})"
        lines = [f"from {self.base} to {self.new}:",
                 f"  peak in use:   {change(self.peak)} bytes",
                 f"  live at exit:  {change(self.leaked)} bytes", ""]
        if not self.grown:
            lines.append("no site holds more bytes at the peak or at exit than in the base")
            return "\n".join(lines)
        lines.append("sites that hold more (matched by their function names):")
        for site in self.grown:
            lines.append(f"  {site.peak[1] - site.peak[0]:+,} bytes at the peak "
                         f"({site.peak[0]:,} -> {site.peak[1]:,}), "
                         f"{site.leaked[1] - site.leaked[0]:+,} live at exit "
                         f"({site.leaked[0]:,} -> {site.leaked[1]:,}), from:")
            if not site.frames:
                lines.append("      (no stack recorded)")
            for i, frame in enumerate(site.frames):
                lines.append(f"      #{i} {frame_text(frame)}")
        return "\n".join(lines)

    def to_dict(self):
        return {"base": self.base, "new": self.new, "peak": list(self.peak),
                "leaked": list(self.leaked),
                "grown": [{"frames": [frame_dict(f) for f in s.frames], "peak": list(s.peak),
                           "leaked": list(s.leaked)} for s in self.grown]}


def _by_name(trace):
    """{stack of frame labels: [bytes at the peak, bytes live at exit, frames]}."""
    summary = summarize(trace, top=0)
    sites = collections.OrderedDict()
    for index, group in ((0, summary.top_peak), (1, summary.top_live)):
        for site in group:
            key = tuple(frame_label(f) for f in site.frames)
            entry = sites.setdefault(key, [0, 0, site.frames])
            entry[index] += site.bytes
    return summary, sites


def diff(base, new, top=10):
    """What grew from trace `base` to trace `new`: the sites, matched by
    their frames' names (not addresses, which move between runs), whose
    bytes at the peak or live at exit are more in `new`."""
    base_summary, base_sites = _by_name(base)
    new_summary, new_sites = _by_name(new)
    grown = []
    for key, (peak, leaked, frames) in new_sites.items():
        before = base_sites.get(key, [0, 0, frames])
        if peak > before[0] or leaked > before[1]:
            grown.append(SiteChange(frames, (before[0], peak), (before[1], leaked)))
    grown.sort(key=lambda s: -max(s.peak[1] - s.peak[0], s.leaked[1] - s.leaked[0]))
    return Diff(str(base.path), str(new.path), (base_summary.peak_bytes, new_summary.peak_bytes),
                (base_summary.live_bytes, new_summary.live_bytes), grown[:top or None])

