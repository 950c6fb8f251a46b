"""A trace in the formats other tools read.

* ``write_mtrace``: glibc's mtrace(3) log, so that glibc's ``mtrace`` script
  lists the blocks never freed, as it would for MALLOC_TRACE.
* ``write_collapsed``: one line per stack, frames outermost first joined by
  ``;``, a space and a weight: what ``flamegraph.pl`` and speedscope read.
* ``write_json``: the summary and the leaks, for scripts.
* ``write_timeline_csv`` / ``write_timeline_png``: bytes in use over time.

Each writer takes an open text file, so that ``-`` can mean stdout.
"""
import json

import numpy as np

from . import trace_report
from .symbols import frame_label
from .trace import kind_mask

WEIGHTS = ("peak", "leaked", "calls")


# ---- glibc's mtrace ----------------------------------------------------------------

def write_mtrace(trace, out):
    """Write the allocations and frees as glibc's mtrace(3) does (see its
    malloc/mtrace-impl.c): ``@ where + ptr size``, ``- ptr``, ``< old`` and
    ``> new size`` for a realloc, ``! ptr size`` for a failed one.

    The log then tells the same story as the trace: a block whose free went
    unrecorded (its address came back) and the blocks live when the process
    exec'ed get a ``- ptr`` line where they ended, so that ``mtrace`` lists
    exactly the blocks live at exit.  Lines starting with ``=`` are comments
    to it."""
    from . import _core
    lib = _core.lib
    allocates, frees, resizes = (kind_mask(lib.HMM_TRACE_ALLOCATES), kind_mask(lib.HMM_TRACE_FREES),
                                 kind_mask(lib.HMM_TRACE_RESIZES))
    blocks = trace_report.blocks(trace)
    # Blocks that ended without a free: their "- ptr" goes before the call
    # that ended them.
    ended_early = {}
    for how in (trace_report.REUSED, trace_report.EXEC):
        chosen = blocks.how == how
        for end, call in zip(blocks.end[chosen].tolist(), blocks.call[chosen].tolist()):
            ended_early.setdefault(end, []).append(int(trace.ret[call]))
    exec_at = {e.call: e.path for e in trace.execs}
    where = _callers(trace)

    relevant = np.flatnonzero(allocates[trace.tag] | frees[trace.tag])
    extra = sorted(set(ended_early) | set(exec_at))
    calls = np.union1d(relevant, np.array([i for i in extra if i < len(trace)], dtype=np.int64))
    tags, ptrs, rets = trace.tag[calls].tolist(), trace.ptr[calls].tolist(), trace.ret[calls].tolist()
    sizes, stacks = trace.size[calls].tolist(), trace.stack[calls].tolist()
    is_alloc, is_free, is_resize = (allocates[trace.tag[calls]].tolist(),
                                    frees[trace.tag[calls]].tolist(),
                                    resizes[trace.tag[calls]].tolist())
    write = out.write
    write("= Start\n")
    for k, i in enumerate(calls.tolist()):
        if i in exec_at:
            write(f"= exec {exec_at[i]}\n")
        for address in ended_early.get(i, ()):
            write(f"- {address:#x}\n")
        at = where.get(stacks[k], "")
        ptr, ret, size = ptrs[k], rets[k], sizes[k]
        if is_resize[k]:
            if ret == 0:
                if ptr and size:
                    write(f"{at}! {ptr:#x} {size:#x}\n")
                elif ptr:
                    write(f"{at}- {ptr:#x}\n")
            elif ptr == 0:
                write(f"{at}+ {ret:#x} {size:#x}\n")
            else:
                write(f"{at}< {ptr:#x}\n{at}> {ret:#x} {size:#x}\n")
        elif is_free[k]:
            if ptr:
                write(f"{at}- {ptr:#x}\n")
        elif is_alloc[k] and ret:
            write(f"{at}+ {ret:#x} {size:#x}\n")
    for address in ended_early.get(len(trace), ()):  # an exec after the last call
        write(f"- {address:#x}\n")
    write("= End\n")


def _callers(trace):
    """{stack number: "@ file:(function)[0xaddress] "} for the innermost
    frame of each stack, as glibc writes the caller."""
    numbers = [k for k, frames in trace.stacks.items() if frames]
    innermost = {k: trace.stacks[k][:1] for k in numbers}
    images = {k: trace.image_of_stack(k) for k in numbers}
    frames = trace.symbolizer().stacks(innermost, images)
    where = {}
    for k in numbers:
        frame = frames[k][0]
        module = frame.module
        if module and not any(c.isspace() for c in module):
            name = f"({frame.function})" if frame.function else ""
            where[k] = f"@ {module}:{name}[{frame.address:#x}] "
        else:
            where[k] = f"@ [{frame.address:#x}] "
    return where


# ---- collapsed stacks ----------------------------------------------------------------

def collapsed_stacks(trace, weight="peak"):
    """{"outer;...;inner": weight} for the stacks with a weight: bytes at
    the peak ("peak"), bytes live at exit ("leaked"), or the number of
    allocations ("calls")."""
    if weight not in WEIGHTS:
        raise ValueError(f"weight must be one of {', '.join(WEIGHTS)}, not {weight!r}")
    b = trace_report.blocks(trace)
    nstacks = len(trace.stacks) + 1
    stack = b.stack.astype(np.int64)
    if weight == "calls":
        weights = np.bincount(stack, minlength=nstacks)
    else:
        if weight == "leaked":
            chosen = b.how == trace_report.LIVE
        else:
            if len(b.call) == 0:
                chosen = np.zeros(0, dtype=bool)
            else:
                peak = int(np.argmax(trace_report.in_use(trace)))
                chosen = (b.call <= peak) & (b.end > peak)
        weights = trace_report._sum_by(stack[chosen], b.size[chosen], nstacks)
    numbers = np.flatnonzero(weights > 0).tolist()
    frames = trace.symbolize([k for k in numbers if k])
    lines = {}
    for k in numbers:
        path = [_flame_name(frame_label(f)) for f in reversed(frames.get(k, []))] or ["[no stack]"]
        key = ";".join(path)
        lines[key] = lines.get(key, 0) + int(weights[k])
    return lines


def _flame_name(label):
    # flamegraph.pl splits frames at ';' and the weight at the last space.
    return label.replace(";", ":").replace("\n", " ")


def write_collapsed(trace, out, weight="peak"):
    for path, value in sorted(collapsed_stacks(trace, weight).items()):
        out.write(f"{path} {value}\n")


# ---- JSON ------------------------------------------------------------------------------

def report_dict(trace, top=10):
    summary = trace.summary(top=top)
    return {"format": "hmm-trace-report", "version": 1,
            "summary": summary.to_dict(),
            "leaks": [leak.to_dict() for leak in trace.leaks()]}


def write_json(trace, out, top=10):
    json.dump(report_dict(trace, top), out, indent=1)
    out.write("\n")


# ---- the timeline ----------------------------------------------------------------------

def write_timeline_csv(trace, out, points=10_000):
    line = trace.timeline(points=points)
    out.write("seconds,call,bytes_in_use\n")
    for seconds, call, used in zip(line.seconds.tolist(), line.calls.tolist(), line.bytes.tolist()):
        out.write(f"{seconds:.9f},{call},{used}\n")


_UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "bytes"))
# Seconds, or the unit that keeps a short run's axis from reading 0.00405.
_TIME_UNITS = ((1, "s"), (1e3, "ms"), (1e6, "µs"))


class MissingPlotter(RuntimeError):
    """matplotlib is not installed."""


def write_timeline_png(trace, path, points=2000):
    """A picture of bytes in use over time, its peak marked."""
    try:
        from matplotlib.figure import Figure   # not pyplot's: no backend to set, nothing kept
    except ImportError as exc:
        raise MissingPlotter("drawing the timeline needs matplotlib: pip install 'hmm[bench]'") from exc
    line = trace.timeline(points=points)
    peak = int(line.bytes.max()) if len(line.bytes) else 0
    scale, unit = next((s, u) for s, u in _UNITS if peak >= s or s == 1)
    span = float(line.seconds.max()) if len(line.seconds) else 0.0
    per_second, time_unit = next((f, u) for f, u in _TIME_UNITS if span * f >= 1 or u == "µs")
    when = line.seconds * per_second
    figure = Figure(figsize=(10, 4.5), dpi=100)
    axes = figure.subplots()
    axes.step(when, line.bytes / scale, where="post", color="tab:blue", label="bytes in use")
    if len(line.bytes):
        at = int(np.argmax(line.bytes))
        axes.plot([when[at]], [line.bytes[at] / scale], "o", color="tab:red",
                  label=f"peak: {peak:,} bytes at call {int(line.calls[at]):,}")
    axes.set_xlabel(f"time since the start of the trace ({time_unit})")
    axes.set_ylabel(f"in use ({unit})")
    axes.set_title(f"heap in use: {trace.path} (pid {trace.pid})")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, format="png")
