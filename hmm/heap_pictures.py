"""Pictures of a replayed heap (hmm.replay), drawn with matplotlib:

    heap_at_peak(trace, replays)    the heap at its peak, every block to scale,
                                    coloured by the site that allocated it
    heap_over_time(trace, replays)  addresses against calls (as villoc draws
                                    a heap): which bytes were in use when
    timelines(trace, replays)       bytes in use and each policy's heap size,
                                    call by call

One panel (or line) per policy, all at the same scale, so the policies are
compared at a glance.  Each returns the matplotlib Figure, and writes it to
`path` if given (PNG or SVG, by the suffix).

The pictures over time need where every block went under each policy: a
10-million-call trace's addresses and heap sizes take 160 MB a policy.  So
a replay asked for its history (hmm.replay.replay(..., history=True))
reduces them at once to what the pictures need, a History: an image of a
few hundred thousand cells and a curve of a few thousand points.  Without
one, the pictures replay the trace again.
"""
import os

import numpy as np

from . import replay as _replay
from . import trace_report
from .symbols import frame_label

PICTURE_WIDTH = 1024        # pixels a row of the heap map
SITES_NAMED = 8             # the sites with most bytes get a colour and a name
AGES = 16                   # shades of age, when blocks are coloured by it
HEADERS_SHOWN = 16          # the heap map draws headers at up to this many bytes a pixel (one header)
OVER_TIME_COLUMNS = 1200    # calls along the heap over time: one column a run of calls
OVER_TIME_ROWS = 480        # addresses up it
TIMELINE_POINTS = 2000      # points a curve
IMAGE_CHUNK = 1 << 20       # blocks the heap over time adds up at a time

PAST = -1.0                 # a cell of the heap over time past the break (else: the share in use)


def _figure(**size):
    """A matplotlib Figure of its own, not pyplot's: nothing global is
    changed (not the backend of a notebook), nothing is kept once the
    caller lets it go, and savefig picks the canvas for the file's type.
    In IPython (Jupyter), it shows inline as a PNG."""
    import matplotlib
    from matplotlib.figure import Figure
    _show_inline_in_ipython(Figure)
    return matplotlib, Figure(**size)


def _show_inline_in_ipython(figure_type):
    """Have a running IPython show figures as PNG images, as matplotlib's
    inline backend has it do (that backend is only set up once pyplot is
    imported, which this module does not do)."""
    import sys
    if "IPython" not in sys.modules:
        return
    shell = sys.modules["IPython"].get_ipython()
    if shell is None:
        return
    png = shell.display_formatter.formatters["image/png"]
    if figure_type not in png.type_printers:
        png.for_type(figure_type, _png_bytes)


def _png_bytes(figure):
    import io
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def _finish(figure, path):
    if path:
        figure.savefig(path, dpi=110)
    return figure


def _title(trace):
    return os.path.basename(str(trace.path))


# ---- the heap at its peak ------------------------------------------------------------

def _site_names(trace, replays):
    """{stack: name} for the stacks holding most bytes at the peaks."""
    stacks, sizes = [], []
    for r in replays:
        b = r.peak_blocks
        known = b.used & (b.call >= 0)
        stacks.append(np.asarray(trace.stack)[b.call[known]].astype(np.int64))
        sizes.append(b.size[known].astype(np.float64))
    stacks, sizes = np.concatenate(stacks or [[]]).astype(np.int64), np.concatenate(sizes or [[]])
    ids, which = np.unique(stacks, return_inverse=True)
    held = np.bincount(which, weights=sizes, minlength=len(ids)) if len(ids) else np.zeros(0)
    top = [int(ids[i]) for i in np.argsort(-held, kind="stable") if ids[i]][:SITES_NAMED]
    names = {}
    if top:
        for stack, frames in trace.symbolize(top).items():
            # Two frames: a program's own allocation wrapper is the first
            # of most of its stacks, the caller tells them apart.
            said = [frame_label(f) for f in frames[:2]]
            names[stack] = " < ".join(said) or f"stack {stack}"
    return {s: names[s] for s in top if s in names}


def _kinds(trace, r, colour, colour_of):
    """Each block's colour index at the peak (heap_at_peak's palette)."""
    b = r.peak_blocks
    kinds = np.where(b.used, 2, 1).astype(np.int64)   # 1 free, 2 in use (other sites)
    known = b.used & (b.call >= 0)
    if colour == "age":
        peak = max(r.peak_footprint_call, 1)
        kinds[known] = 2 + np.minimum(AGES - 1, b.call[known] * AGES // (peak + 1))
    elif colour_of:
        stacks = np.asarray(trace.stack)[b.call[known]].astype(np.int64)
        ids = np.array(list(colour_of), dtype=np.int64)
        order = np.argsort(ids)
        at = np.searchsorted(ids[order], stacks).clip(0, len(ids) - 1)
        named = ids[order][at] == stacks
        site = np.full(len(stacks), 2, dtype=np.int64)
        site[named] = np.array([colour_of[int(i)] for i in ids[order]])[at[named]]
        kinds[known] = site
    return kinds


def _heap_image(r, kinds, start, scale, pixels, header=None):
    """The heap as `pixels` pixels of `scale` bytes from `start`: each the
    colour of the last block that starts at or before it (a pixel holds
    several small blocks), 0 past the blocks' ends; with `header`, each
    block's first pixel in that colour (its header)."""
    b = r.peak_blocks
    image = np.zeros(pixels, dtype=np.uint8)
    if not len(b):
        return image
    first = ((b.address.astype(np.int64) - 16 - start) // scale)
    last = np.maximum((b.address.astype(np.int64) - 16 + b.size.astype(np.int64) - start) // scale,
                      first + 1)
    pixel = np.arange(pixels)
    which = np.searchsorted(first, pixel, side="right") - 1
    inside = (which >= 0) & (pixel < last[which.clip(0)])
    image[inside] = kinds[which[inside]]
    if header is not None:
        image[first[(first >= 0) & (first < pixels)]] = header
    return image


def heap_at_peak(trace, replays, path=None, width=PICTURE_WIDTH, colour="site", when="at its peak"):
    """The heap at its peak under each policy, one panel each, to scale:
    every block a run of pixels along rows of the heap, free blocks light
    grey, the space past the break white, and blocks in use coloured by
    `colour`: "site", the site that allocated them (the top sites named,
    the others dark grey), or "age", how long before the peak they were
    placed (dark: at the start; bright: just before).  `width`: pixels a
    row (more for a sharper map).  `when`: the title's words for the
    moment drawn (replays made by ReplayedHeap.snapshot() are at a call
    of their own)."""
    if colour not in ("site", "age"):
        raise ValueError(f"colour must be 'site' or 'age', not {colour!r}")
    from matplotlib.patches import Patch

    names = _site_names(trace, replays) if colour == "site" else {}
    matplotlib, figure = _figure(figsize=(max(4 * len(replays), 9), 4.6))
    if colour == "site":
        palette = matplotlib.colormaps["tab10"].colors
        colour_of = {stack: i + 3 for i, stack in enumerate(names)}   # 0 past, 1 free, 2 other
        colours = [(1, 1, 1), (0.85, 0.85, 0.85), (0.35, 0.35, 0.35)] + list(palette[:len(names)])
    else:   # 0 past, 1 free, then AGES shades of age
        ages = matplotlib.colormaps["viridis"](np.linspace(0, 1, AGES))[:, :3]
        colours = [(1, 1, 1), (0.85, 0.85, 0.85)] + [tuple(c) for c in ages]

    def extent(r):   # from the first block's header to the end of the last block
        b = r.peak_blocks
        return (int(b.address[0]) - 16, int(b.address[-1] - 16 + b.size[-1])) if len(b) else (0, 0)

    span = max(high - low for low, high in map(extent, replays)) or 1
    scale = max(16, -(-span // (width * width * 3 // 16)))  # bytes a pixel: some 3/16 as many rows
    rows = -(-span // (scale * width))
    # Headers (16 bytes) are drawn where a pixel is no more than one of them:
    # more would paint a heap of small blocks black.
    headers = scale <= HEADERS_SHOWN
    if headers:
        colours.append((0.0, 0.0, 0.0))
    axes = figure.subplots(1, len(replays), squeeze=False)
    for ax, r in zip(axes[0], replays):
        kinds = _kinds(trace, r, colour, colour_of if colour == "site" else {})
        image = _heap_image(r, kinds, extent(r)[0], scale, rows * width,
                            header=len(colours) - 1 if headers else None)
        ax.imshow(image.reshape(rows, width), cmap=matplotlib.colors.ListedColormap(colours),
                  vmin=0, vmax=len(colours) - 1, interpolation="nearest", aspect="auto")
        ax.set_title(f"{r.policy}\n{r.peak_heap_size / 2**20:.2f} MiB, "
                     f"fragmentation {r.fragmentation:.0%}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([0, rows - 1])
        ax.set_yticklabels(["0", f"{span / 2**20:.1f} MiB"], fontsize=7)
    legend = [Patch(color=colours[1], label="free")]
    if headers:
        legend.append(Patch(color=colours[-1], label="block header"))
    if colour == "site":
        legend.append(Patch(color=colours[2], label="in use, other sites"))
        legend += [Patch(color=colours[colour_of[s]], label=n[:40]) for s, n in names.items()]
    else:
        legend += [Patch(color=colours[2], label="in use, placed at the start"),
                   Patch(color=colours[2 + AGES // 2], label="half-way to the peak"),
                   Patch(color=colours[1 + AGES], label="just before")]
    figure.legend(handles=legend, loc="lower center", ncol=min(5, len(legend)), fontsize=7,
                  frameon=False)
    figure.suptitle(f"{_title(trace)}: the heap {when}, {scale} bytes a pixel", fontsize=10)
    figure.tight_layout(rect=(0, 0.12, 1, 0.95))
    return _finish(figure, path)


# ---- the heap over time ------------------------------------------------------------

def _columns_of(calls, n, columns):
    """The column each call falls in: calls spread evenly over the columns."""
    return (np.asarray(calls, dtype=np.int64) * columns // max(n, 1)).clip(0, columns - 1)


def _downsample_max(curve, points):
    """(calls, values): the most of each run of consecutive entries, at the
    call that reached it (so a peak is never lost between points)."""
    n = len(curve)
    if n <= points:
        return np.arange(n), curve.copy()
    bounds = np.linspace(0, n, points + 1).astype(np.int64)
    best = np.maximum.reduceat(curve, bounds[:-1])
    # The call of each maximum: the first one in its run that equals it.
    calls = np.empty(points, dtype=np.int64)
    for k in range(points):   # a few thousand runs: cheap beside the replay
        a, b = bounds[k], bounds[k + 1]
        calls[k] = a + int(np.argmax(curve[a:b]))
    return calls, best


def _column_most(curve, columns):
    """The most of the curve in each column, its entries spread over the
    columns as _columns_of spreads calls."""
    n = len(curve)
    if n == 0:
        return np.zeros(columns, dtype=curve.dtype)
    if n < columns:   # a call spans columns
        return curve[np.arange(columns) * n // columns]
    first = (np.arange(columns) * n + columns - 1) // columns   # the first call of each column
    return np.maximum.reduceat(curve, first)


class History:
    """What a policy's heap did over the whole trace, reduced to what the
    pictures draw: the heap over time as an image (rows of addresses from
    the heap's start, `span` bytes in all, by columns of calls) and the
    heap's size as a curve.  From a replay's arrays: where each call's
    block was placed, and the heap's size after each call."""

    def __init__(self, trace, heap, placed, sizes, span):
        n = len(trace)
        start = heap.stats().get("heap_start") or heap.address
        maps = heap.address + heap.size // 2   # the buffer's top half stands in for mmap
        self.span = span
        self.size_calls, self.size_bytes = _downsample_max(sizes[:n], TIMELINE_POINTS)
        self.image = self._image(trace, placed, sizes[:n], start, maps, span)

    @staticmethod
    def _image(trace, placed, sizes, start, maps, span):
        columns, rows = OVER_TIME_COLUMNS, OVER_TIME_ROWS
        n = len(trace)
        b = trace_report.blocks(trace)
        # Each block is a rectangle of cells, weighted by its bytes in each
        # row: add them all up as the corners of a difference array summed
        # up both ways.  A chunk of blocks at a time: ten million calls'
        # temporaries at once are hundreds of MB a policy, fresh memory
        # that the kernel must zero, where a chunk's are reused.
        width = columns + 1
        corners = np.zeros((rows + 1) * width)
        for lo in range(0, len(b.call), IMAGE_CHUNK):
            part = slice(lo, lo + IMAGE_CHUNK)
            where = placed[b.call[part]].astype(np.int64)
            keep = (where != 0) & (where < maps)   # in the heap (mappings are drawn as the heap's size is not)
            offset = where[keep] - start
            size = np.maximum(b.size[part][keep], 1)
            x0 = _columns_of(b.call[part][keep], n, columns)
            # A block is in use from its call up to its end: to the column
            # where that falls, rounded up (live at the end: to the last).
            x1 = np.maximum(-(-b.end[part][keep] * columns // max(n, 1)), x0 + 1).clip(1, columns)
            y0 = (offset * rows // span).clip(0, rows - 1)
            y1 = np.maximum(-(-(offset + size) * rows // span), y0 + 1).clip(1, rows)
            weight = size / (y1 - y0)
            cells = np.concatenate((y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1))
            signed = np.concatenate((weight, -weight, -weight, weight))
            corners += np.bincount(cells, weights=signed, minlength=len(corners))
        used = corners.reshape(rows + 1, width).cumsum(axis=0).cumsum(axis=1)[:rows, :columns]
        # The share of each cell's bytes in use; past the break, PAST.
        image = np.clip(used / (span / rows), 0.0, 1.0)
        heap_rows = -(-_column_most(sizes, columns).astype(np.int64) * rows // span)
        image[np.arange(rows)[:, None] >= heap_rows[None, :]] = PAST
        return image


def _histories(trace, replays):
    """Each replay's History: the one it kept (replay(..., history=True)),
    or one from replaying it again."""
    for r in replays:
        if r.history is None:
            calls, arrays = _replay._columns(trace)
            heap, placed, sizes = _replay._run(calls, r.policy, r.heap.size)
            r.history = History(trace, heap, placed, sizes, max(r.peak_heap_size, 1))
            del arrays
    return [r.history for r in replays]


def heap_over_time(trace, replays, path=None):
    """The heap over time under each policy (as villoc draws one): calls
    along, the heap's addresses up, each cell as dark as the share of its
    bytes in use (light: free), white past the break.  Light bands that
    stay open for long are fragmentation; a heap that climbs while the
    dark stays low is one that does not reuse its memory."""
    from matplotlib.patches import Patch

    histories = _histories(trace, replays)
    matplotlib, figure = _figure(figsize=(max(4 * len(replays), 9), 4.2))
    span = max(h.span for h in histories)
    free, used = (0.86, 0.88, 0.92), (0.12, 0.32, 0.62)
    colours = matplotlib.colors.LinearSegmentedColormap.from_list("hmm-use", [free, used])
    colours = colours.with_extremes(under="white")   # PAST
    n = len(trace)
    axes = figure.subplots(1, len(replays), squeeze=False)
    for ax, r, h in zip(axes[0], replays, histories):
        ax.imshow(h.image, cmap=colours, vmin=0.0, vmax=1.0,
                  origin="lower", interpolation="nearest", aspect="auto",
                  extent=(0, n, 0, h.span / 2**20))
        ax.set_ylim(0, span / 2**20)   # every panel at the same scale
        ax.set_title(f"{r.policy}: peak heap {r.peak_heap_size / 2**20:.2f} MiB", fontsize=9)
        ax.set_xlabel("call", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("offset in the heap (MiB)", fontsize=8)
    figure.legend(handles=[Patch(color=used, label="in use"), Patch(color=free, label="free"),
                           Patch(facecolor="white", edgecolor="0.6", label="past the break")],
                  loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.suptitle(f"{_title(trace)}: the heap over time", fontsize=10)
    figure.tight_layout(rect=(0, 0.07, 1, 0.95))
    return _finish(figure, path)


def _to_the_end(calls, values, n):
    """A step curve's points, with one more at call n holding the last
    value: drawn "post", a point's value lasts until the next point, and
    the last one (where a peak near the end is) would otherwise not show."""
    calls, values = np.asarray(calls, dtype=np.int64), np.asarray(values, dtype=np.float64)
    if not len(calls):
        return calls, values
    return np.append(calls, n), np.append(values, values[-1])


def timelines(trace, replays, path=None):
    """Bytes in use (what the program asked for: the same under every
    policy) and each policy's heap size, call by call: the gap between a
    policy's line and the bytes in use is what its placement costs."""
    histories = _histories(trace, replays)
    _, figure = _figure(figsize=(9, 4))
    ax = figure.subplots()
    in_use = trace_report.in_use(trace)
    calls, most = _downsample_max(in_use, TIMELINE_POINTS) if len(in_use) else ([], [])
    calls, most = _to_the_end(calls, most, len(trace))
    ax.fill_between(calls, most / 2**20, color="0.8", label="bytes in use", step="post")
    for r, h in zip(replays, histories):
        x, y = _to_the_end(h.size_calls, h.size_bytes, len(trace))
        ax.plot(x, y / 2**20, drawstyle="steps-post", linewidth=1.2, label=f"heap, {r.policy}")
    ax.set_xlabel("call")
    ax.set_ylabel("MiB")
    ax.set_xlim(0, max(len(trace), 1))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(f"{_title(trace)}: bytes in use and the heap's size under each policy", fontsize=10)
    figure.tight_layout()
    return _finish(figure, path)
