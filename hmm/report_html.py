"""`hmm report --html OUT TRACE`: everything the report and the replay say
about a trace, in one HTML file that stands alone.

One file, because a report is mailed, attached to a bug or opened years
later on a machine with no network: the page loads nothing (no server, no
script, style, font or picture from elsewhere).  Its pictures are PNGs in
data: URIs, its script is the few lines at the end of this file, and its
Content-Security-Policy tells the browser to refuse anything else, so a
reference that slipped in shows as an error rather than as a silent fetch.

Its size does not grow with the trace: the page holds the summary, the
leaks and the tables as text, and pictures drawn from them, never a
call's data.  python3's 10-million-call trace makes a page of 1.9 MB
(with the default --top), most of it the two zoomable pictures, drawn at
about one screen pixel per pixel of their data so that zooming in shows
the blocks.

The sections have ids (summary, leaks, policies, where, heap-map,
heap-over-time, timeline, policy-timelines) and the page reports its own
script errors in <div id="errors">, so that a test in a real browser can
find each part and see that the script ran (body's data-ready is "1"
once the pictures are loaded and zoomable).

The pictures are hmm.heap_pictures' (the heap at its peak, over the
calls, and each policy's timeline) and hmm.trace_export's (bytes in use).
"""
import base64
import html
import io
import os
import struct
from concurrent.futures import ThreadPoolExecutor

from . import __version__, trace_export, trace_report
from .symbols import frame_label, frame_text
from .trace_report import plural

# The zoomable pictures (the heap map, the heap over the calls) are drawn at
# about one dot per pixel of their data, within these dots per inch: enough
# for zooming in to show the blocks, without pictures of tens of megabytes.
DETAIL_DPI = (110, 300)
PLAIN_DPI = 100
# The most bytes of PNG a zoomable picture and a plain one may take; past
# it, it is drawn again at fewer dots per inch.  Two of each make at most
# 4 MB of base64, so no trace can make the page huge.
DETAIL_BYTES = 1_200_000
PLAIN_BYTES = 300_000
# How far the heap map zooms in.
MOST_ZOOM = 64


def render(trace, policies=None, top=10, progress=None):
    """The page of `trace`, as a string.

    policies: the placement policies to replay under (names; all by
    default); top: sites in each list and leaks shown (0: all);
    progress: a function given a line at each step, or None."""
    say = progress or (lambda line: None)
    _need_matplotlib()
    from . import POLICIES, replay

    # The summary and the leaks are written while the policies replay: they
    # wait on addr2line much of the time.  Both need the trace's blocks:
    # made once, first.
    trace_report.blocks(trace)
    with ThreadPoolExecutor(max_workers=1) as pool:
        reports = pool.submit(lambda: (trace_report.summarize(trace, top=top),
                                       trace_report.find_leaks(trace)))
        names = list(policies or POLICIES)
        say(f"replaying under {', '.join(names)}...")
        replays = replay.replay_all(trace, names, history=True)   # the pictures' too
        summary, leaks = reports.result()
    sections = [_summary_section(summary), _leaks_section(leaks, top),
                _policies_section(replays), _where_section(trace, replays)]
    sections += _pictures(trace, replays, say)
    sections.append(_free_sizes_section(replays))
    return _page(trace, summary, sections)


def _need_matplotlib():
    try:
        import matplotlib  # noqa: F401 (the pictures draw on Figures of their own: no backend set)
    except ImportError as exc:
        raise trace_export.MissingPlotter(
            "the HTML report's pictures need matplotlib: pip install 'hmm[bench]'") from exc


def program_name(trace):
    """The program the trace is of: the executable of its last program (the
    first object of that program's memory map, or the path it was exec'ed
    by), or None when the trace says neither."""
    image = len(trace.execs)
    for module in trace.modules:
        if module.image == image and module.path:
            return module.path
    return trace.execs[-1].path if trace.execs else None


# ---- the page -------------------------------------------------------------------

def _e(value):
    return html.escape(str(value), quote=True)


def _page(trace, summary, sections):
    name = os.path.basename(str(trace.path))
    program = program_name(trace)
    title = f"hmm report: {os.path.basename(program)} ({name})" if program else \
        f"hmm report: {name}"
    nav = " ".join(f'<a href="#{_e(sid)}">{_e(heading)}</a>' for sid, heading, _ in sections)
    body = "\n".join(f'<section id="{_e(sid)}">\n<h2>{_e(heading)}</h2>\n{content}\n</section>'
                     for sid, heading, content in sections)
    warning = ""
    if summary.error:
        warning = (f'<p class="warning">The trace is damaged: {_e(summary.error)}. This report '
                   f'covers the {summary.calls:,} calls before the damage.</p>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">
<script>{ERRORS_SCRIPT}</script>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hmm {_e(__version__)}">
<title>{_e(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<div id="errors" role="alert"></div>
<header>
<h1>{_e(title)}</h1>
<p class="what">The heap of {_e(program or "a program")}, recorded by <code>hmm run --trace</code>
in <code>{_e(trace.path)}</code>: {summary.calls:,} calls in {summary.seconds:.3f} s.</p>
{warning}
<nav>{nav}</nav>
</header>
{body}
<footer>Written by <code>hmm report --html</code> (hmm {_e(__version__)}).</footer>
<script>{ZOOM_SCRIPT}</script>
</body>
</html>
"""


def _table(head, rows, numeric=None):
    """An HTML table: `head` the column names, `rows` of cells, both as
    markup (escaped by the caller); the columns whose indexes are in
    `numeric` (by default all but the first) are numbers, to the right.
    It scrolls sideways in a narrow window rather than widen the page."""
    numeric = set(range(1, len(head)) if numeric is None else numeric)
    number = ' class="num"'

    def cells(row, tag):
        # Cells apart, so that the page's text (a search, a copy) has
        # words apart too.
        return " ".join(f"<{tag}{number if i in numeric else ''}>{cell}</{tag}>"
                        for i, cell in enumerate(row))
    lines = ['<div class="wide"><table>', f"<thead><tr>{cells(head, 'th')}</tr></thead>", "<tbody>"]
    lines += [f"<tr>{cells(row, 'td')}</tr>" for row in rows]
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def _stack(frames):
    """A site's stack: its innermost frame, and the whole stack unfolded."""
    if not frames:
        return '<span class="none">(no stack recorded)</span>'
    lines = "\n".join(f"<li><code>0x{f.address:x}</code> in {_e(frame_text(f))}</li>"
                      for f in frames)
    return (f"<details><summary>{_e(frame_label(frames[0]))}</summary>\n"
            f'<ol class="stack" start="0">\n{lines}\n</ol></details>')


# ---- the summary and the leaks ---------------------------------------------------

def _summary_section(s):
    facts = [("trace", _e(s.path)),
             ("process", f"pid {s.pid}, parent {s.ppid}; {s.calls:,} calls in {s.seconds:.3f} s")]
    if len(s.programs) > 1:
        facts.append(("programs", _e(", then ".join(p or "(the first)" for p in s.programs))))
    shown = "; ".join(f"tid {tid}: {plural(calls, 'call')}" for tid, calls in s.threads[:8])
    more = f"; and {len(s.threads) - 8} more" if len(s.threads) > 8 else ""
    facts.append(("threads", f"{len(s.threads)}" + (f" ({shown}{more})" if s.threads else "")))
    facts.append(("allocated", f"{plural(s.allocated_bytes, 'byte')} in "
                               f"{plural(s.allocated_blocks, 'block')}"))
    facts.append(("temporary", f"{plural(s.temporary_blocks, 'block')} freed before any other "
                               "allocation"))
    facts.append(("peak in use", "0 bytes" if s.peak_call is None else
                  f"{s.peak_bytes:,} bytes, after call {s.peak_call:,} at {s.peak_seconds:.6f} s"))
    facts.append(("live at exit", f"{plural(s.live_bytes, 'byte')} in "
                                  f"{plural(s.live_blocks, 'block')}"))
    if s.exec_blocks:
        facts.append(("live at exec", f"{plural(s.exec_bytes, 'byte')} in "
                      f"{plural(s.exec_blocks, 'block')} (gone with the program that exec'ed)"))
    if s.failed_allocations:
        facts.append(("failed", f"{s.failed_allocations:,} allocations returned NULL"))
    if s.bad_frees:
        facts.append(("bad frees", f"{s.bad_frees:,} frees of a pointer that was no live block "
                                   "(double or invalid frees)"))
    if s.lost_calls:
        facts.append(("not recorded", f"{s.lost_calls:,} calls (made from signal handlers); "
                                      "counts may be off"))
    for m in s.misuse:
        facts.append(("misuse", f"in call {m.call:,}, and HMM aborted the program: "
                                f"{_e(m.message)}"))
    if not s.finished:
        facts.append(("unfinished", "the trace has no FINISH record: the program crashed or was "
                                    "killed, and 'at exit' means when it stopped"))
    for note in s.notes:
        facts.append(("note", _e(note)))
    parts = ['<dl class="facts">\n' + "\n".join(f"<dt>{_e(k)}</dt> <dd>{v}</dd>" for k, v in facts)
             + "\n</dl>"]
    parts.append("<h3>calls</h3>")
    parts.append(_table(["function", "calls"],
                        [(f"<code>{_e(name)}</code>", f"{count:,}")
                         for name, count in s.calls_by_function.items()]))
    for title, sites, unit in (("top sites by bytes at the peak", s.top_peak, "blocks"),
                               ("top sites by allocations", s.top_calls, "calls"),
                               ("top sites by bytes live at exit", s.top_live, "blocks")):
        parts.append(f"<h3>{_e(title)}</h3>")
        if not sites:
            parts.append('<p class="none">(none)</p>')
            continue
        parts.append(_table(["bytes", unit, "allocated at"],
                            [(f"{site.bytes:,}", f"{site.blocks:,}", _stack(site.frames))
                             for site in sites], numeric=(0, 1)))
    return "summary", "Summary", "\n".join(parts)


def _leaks_section(leaks, top):
    if not leaks:
        return "leaks", "Leaks", "<p>No leaks: every block was freed.</p>"
    shown = leaks[:top] if top else leaks
    parts = [f"<p>{plural(sum(k.bytes for k in leaks), 'byte')} in "
             f"{plural(sum(k.blocks for k in leaks), 'block')} still live at exit, from "
             f"{plural(len(leaks), 'site')}, biggest first.</p>",
             _table(["bytes", "blocks", "allocated at"],
                    [(f"{k.bytes:,}", f"{k.blocks:,}", _stack(k.frames)) for k in shown],
                    numeric=(0, 1))]
    if len(shown) < len(leaks):
        rest = leaks[len(shown):]
        parts.append(f"<p>... and {plural(len(rest), 'more site')} with "
                     f"{plural(sum(r.bytes for r in rest), 'byte')} (<code>--top 0</code> "
                     "lists them all).</p>")
    return "leaks", "Leaks", "\n".join(parts)


# ---- the policies ----------------------------------------------------------------

# The policy table's columns: heading, the figure, how it is written, and
# whether less is better (the best of each such column is marked).
_POLICY_COLUMNS = (
    ("peak heap", lambda r: r.peak_heap_size, "{:,}", True),
    ("with mappings", lambda r: r.peak_footprint, "{:,}", True),
    ("peak in use", lambda r: r.peak_in_use, "{:,}", False),
    ("fragmentation", lambda r: r.fragmentation, "{:.1%}", True),
    ("largest free at peak", lambda r: r.largest_free_at_peak, "{:,}", False),
    ("examined / allocation", lambda r: r.examined_per_allocation, "{:.2f}", True),
    ("ns / call", lambda r: r.ns_per_call, "{:.0f}", True),
)


def _policies_section(replays):
    best = {}
    for heading, figure, _, less in _POLICY_COLUMNS:
        values = [figure(r) for r in replays]
        if less and min(values) != max(values):
            best[heading] = min(values)
    rows = []
    for r in replays:
        row = [f"<code>{_e(r.policy)}</code>"]
        for heading, figure, form, _ in _POLICY_COLUMNS:
            text = _e(form.format(figure(r)))
            row.append(f"<b>{text}</b>" if best.get(heading) == figure(r) else text)
        rows.append(row)
    calls = replays[0].calls
    return "policies", "Placement policies", "\n".join((
        f"<p>The {calls:,} calls replayed, in their order, on a simulated heap under each "
        "placement policy (<code>hmm replay</code>). Fragmentation: the heap and its mappings at "
        "their most, over the bytes asked for at theirs, minus one. Where the policies differ, the "
        "lowest of each column where less is better is in bold.</p>",
        _table(["policy"] + [_e(c[0]) for c in _POLICY_COLUMNS], rows)))


def _where_section(trace, replays):
    from .replay import WHERE_PARTS
    rows = []
    for r in replays:
        parts = r.where_the_bytes_went(trace)
        total = sum(parts.values())
        bar = "".join(f'<span class="part-{n}" style="width:{100 * parts[n] / total:.2f}%" '
                      f'title="{_e(n.replace("_", " "))}: {parts[n]:,} bytes"></span>'
                      for n in WHERE_PARTS if total and parts[n])
        rows.append([f"<code>{_e(r.policy)}</code>"]
                    + [f'{parts[n]:,} <br><span class="share">{parts[n] / total:.0%}</span>'
                       if total else "0" for n in WHERE_PARTS]
                    + [f"{total:,}", f'<div class="bar">{bar}</div>'])
    head = (["policy"] + [f'<span class="key part-{n}"></span>{_e(n.replace("_", " "))}'
                          for n in WHERE_PARTS] + ["total", "share"])
    table = _table(head, rows, numeric=range(1, len(head) - 1))
    return "where", "Where the bytes went at the peak", "\n".join((
        "<p>At each policy's peak, its heap and mappings in parts that add up to the footprint "
        "to the byte: what the program asked for, rounding and headers, free holes, the top "
        "(free at the end), mappings of large blocks, and the heap's bookkeeping. A leak shows "
        "in the first, fragmentation in the third.</p>", table))


def _free_sizes_section(replays):
    from . import POLICIES, replay
    sizes = replay.free_size_rows(replays)
    histogram = _table([_e(h) for h in sizes[0]], [[f"<code>{_e(row[0])}</code>"] + list(row[1:])
                                                   for row in sizes[1:]],
                       numeric=range(1, len(sizes[0])))
    return "free-sizes", "Free blocks at the peak, by size", "\n".join((
        "<p>The free blocks at each policy's peak: how many of at least so many bytes (and less "
        "than twice as many). Many small ones are fragmentation that no request can use.</p>",
        histogram))


# ---- the pictures ----------------------------------------------------------------

def _pictures(trace, replays, say):
    """The sections with pictures, each (id, heading, content)."""
    from . import heap_pictures
    sections = []
    say("drawing the heap at its peak...")
    sections.append(("heap-map", "The heap at its peak", _zoomable(
        _detailed_png(heap_pictures.heap_at_peak(trace, replays)),
        "The heap at its peak under each policy, to scale: blocks in use in the colour of the "
        "site that allocated them, free blocks light grey. Zoom with the mouse wheel or a "
        "double click (shift: out), drag to move, or use the buttons.",
        "the heap at its peak under each policy")))
    say("drawing the heap over the calls...")
    sections.append(("heap-over-time", "The heap over the calls", _zoomable(
        _detailed_png(heap_pictures.heap_over_time(trace, replays)),
        "The heap over the calls under each policy, as villoc draws one: the calls along, "
        "the heap's addresses up, darker where more of the bytes are in use.",
        "the heap's blocks by address over the calls, under each policy")))
    say("drawing the timeline...")
    buffer = io.BytesIO()
    trace_export.write_timeline_png(trace, buffer)
    sections.append(("timeline", "Bytes in use over time",
                     _figure_html(buffer.getvalue(), "bytes in use over time, the peak marked")))
    say("drawing each policy's timeline...")
    sections.append(("policy-timelines", "Each policy over the calls", _figure_html(
        _fitted_png(heap_pictures.timelines(trace, replays), PLAIN_DPI, PLAIN_BYTES),
        "bytes in use and the heap's size under each policy, over the calls")))
    return sections


def _detail_dpi(figure):
    """Dots per inch that give each image in the figure at least one dot
    per pixel of its data (within DETAIL_DPI)."""
    low, high = DETAIL_DPI
    wanted = low
    for axes in figure.axes:
        inches = axes.get_position().width * figure.get_figwidth()
        for image in axes.get_images():
            columns = image.get_array().shape[1]
            if inches > 0:
                wanted = max(wanted, columns / inches)
    return min(high, wanted)


def _detailed_png(figure):
    return _fitted_png(figure, _detail_dpi(figure), DETAIL_BYTES)


def _fitted_png(figure, dpi, most):
    """The figure as PNG bytes at `dpi`, or at fewer dots per inch if it
    would take more than `most` bytes."""
    while True:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        data = buffer.getvalue()
        if len(data) <= most or dpi <= 50:
            return data
        dpi *= 0.9 * (most / len(data)) ** 0.5


def _png_size(data):
    """(width, height) of a PNG, from its IHDR chunk."""
    return struct.unpack(">II", data[16:24])


def _data_uri(data):
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_html(data, alt):
    width, height = _png_size(data)
    return (f'<figure class="picture"><img src="{_data_uri(data)}" width="{width}" '
            f'height="{height}" alt="{_e(alt)}"></figure>')


def _zoomable(data, caption, alt):
    width, height = _png_size(data)
    return f"""<p>{_e(caption)}</p>
<div class="zoom" tabindex="0" data-scale="1">
<div class="tools">
<button type="button" data-act="in" title="zoom in (+)">+</button>
<button type="button" data-act="out" title="zoom out (-)">&minus;</button>
<button type="button" data-act="reset" title="the whole picture (0)">reset</button>
<span class="level">1&times;</span>
</div>
<div class="view"><img src="{_data_uri(data)}" width="{width}" height="{height}" alt="{_e(alt)}"
draggable="false"></div>
</div>"""


# ---- what the page carries: its policy, style and scripts -------------------------

# Nothing from elsewhere: pictures only from data: URIs, style and script
# only from the page itself.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")

# First in the page, so that it sees every later error: each error's text
# goes into <div id="errors"> (kept until that exists), where a person and a
# test both see it.
ERRORS_SCRIPT = """
window.hmmPending = [];
window.hmmSay = function (text) {
  var box = document.getElementById("errors");
  if (!box) { window.hmmPending.push(text); return; }
  var line = document.createElement("p");
  line.textContent = text;
  box.appendChild(line);
};
window.onerror = function (message, source, line, column, error) {
  window.hmmSay("script error: " + message + (line ? " (line " + line + ":" + column + ")" : ""));
};
window.addEventListener("unhandledrejection", function (event) {
  window.hmmSay("script error: " + event.reason);
});
document.addEventListener("securitypolicyviolation", function (event) {
  window.hmmSay("refused to load " + (event.blockedURI || "something") + ": the page stands alone");
});
"""

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1400px; padding: 0 1.5em 3em; }
h1 { font-size: 1.6em; margin: 0.8em 0 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
code, .stack { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
               font-size: 0.92em; }
nav a { margin-right: 1em; }
.what { color: #444; }
.warning, #errors p { background: #fde8e8; border-left: 4px solid #c62828; padding: 0.4em 0.8em; }
#errors:empty { display: none; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1.2em; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: 0.4em 0 1em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: left;
         vertical-align: top; }
th { background: #f4f4f4; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
.share { color: #666; font-size: 0.9em; }
td details summary { cursor: pointer; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.stack { margin: 0.3em 0; padding-left: 2.5em; }
.none { color: #777; }
.wide { overflow-x: auto; }
.bar { display: flex; width: 10em; height: 1em; background: #eee; }
.bar span { display: block; height: 100%; }
.key { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em; }
.part-asked { background: #1f77b4; } .part-rounding_and_headers { background: #ff7f0e; }
.part-free { background: #d62728; } .part-top { background: #bcbd22; }
.part-mapped { background: #9467bd; } .part-bookkeeping { background: #7f7f7f; }
figure { margin: 0.5em 0; }
figure img { max-width: 100%; height: auto; }
.zoom { border: 1px solid #ccc; }
.zoom:focus { outline: 2px solid #1f77b4; }
.zoom .tools { padding: 0.3em; background: #f4f4f4; border-bottom: 1px solid #ccc; }
.zoom button { min-width: 2.2em; margin-right: 0.3em; }
.zoom .view { overflow: hidden; position: relative; cursor: grab; touch-action: none; }
.zoom .view.dragging { cursor: grabbing; }
.zoom .view img { display: block; width: 100%; height: auto; transform-origin: 0 0;
                  user-select: none; -webkit-user-drag: none; }
.zoom .view.close img { image-rendering: pixelated; }
footer { margin-top: 3em; color: #777; font-size: 0.9em; }
"""

# Zoom and pan for each .zoom box, by a CSS transform of its picture: the
# wheel (and a double click, shift for out) zooms about the pointer, a drag
# moves, the buttons and the keys + - 0 and the arrows do the same.  Then,
# once the pictures are loaded, each one's decoded width goes into its
# data-natural-width and body's data-ready becomes "1".
ZOOM_SCRIPT = """
(function () {
  "use strict";
  window.hmmPending.forEach(window.hmmSay);
  window.hmmPending = [];
  var MOST = %d;

  function zoomable(box) {
    var view = box.querySelector(".view"), picture = view.querySelector("img"),
        level = box.querySelector(".level");
    var scale = 1, x = 0, y = 0, drag = null;

    function show() {
      var w = view.clientWidth, h = view.clientHeight;
      x = Math.min(0, Math.max(w - w * scale, x));
      y = Math.min(0, Math.max(h - h * scale, y));
      picture.style.transform = "translate(" + x + "px, " + y + "px) scale(" + scale + ")";
      level.textContent = (scale < 10 ? scale.toFixed(1) : Math.round(scale)) + "\\u00d7";
      box.dataset.scale = scale.toFixed(3);
      box.dataset.x = Math.round(x);
      box.dataset.y = Math.round(y);
      // Past one screen pixel per pixel of the picture, show its pixels
      // as squares: they are the heap's bytes, not to be blurred.
      view.classList.toggle("close", view.clientWidth * scale > picture.naturalWidth);
    }
    function zoom(factor, px, py) {
      var next = Math.min(MOST, Math.max(1, scale * factor));
      x = px - (px - x) * next / scale;
      y = py - (py - y) * next / scale;
      scale = next;
      show();
    }
    function middle(factor) { zoom(factor, view.clientWidth / 2, view.clientHeight / 2); }
    function at(event) {
      var r = view.getBoundingClientRect();
      return [event.clientX - r.left, event.clientY - r.top];
    }
    function reset() { scale = 1; x = 0; y = 0; show(); }

    view.addEventListener("wheel", function (event) {
      event.preventDefault();
      var lines = event.deltaMode === 1 ? 33 : event.deltaMode === 2 ? view.clientHeight : 1;
      var p = at(event);
      zoom(Math.exp(-event.deltaY * lines / 300), p[0], p[1]);
    }, { passive: false });
    view.addEventListener("dblclick", function (event) {
      var p = at(event);
      zoom(event.shiftKey ? 0.5 : 2, p[0], p[1]);
    });
    view.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      drag = { id: event.pointerId, x: event.clientX - x, y: event.clientY - y };
      try { view.setPointerCapture(event.pointerId); } catch (e) { /* a synthetic pointer */ }
      view.classList.add("dragging");
      event.preventDefault();
    });
    view.addEventListener("pointermove", function (event) {
      if (!drag || event.pointerId !== drag.id) return;
      x = event.clientX - drag.x;
      y = event.clientY - drag.y;
      show();
    });
    function stop(event) {
      if (drag && event.pointerId === drag.id) { drag = null; view.classList.remove("dragging"); }
    }
    view.addEventListener("pointerup", stop);
    view.addEventListener("pointercancel", stop);
    box.querySelector("[data-act=in]").addEventListener("click", function () { middle(2); });
    box.querySelector("[data-act=out]").addEventListener("click", function () { middle(0.5); });
    box.querySelector("[data-act=reset]").addEventListener("click", reset);
    box.addEventListener("keydown", function (event) {
      var step = view.clientWidth / 10, moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0],
                                                 ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (event.key === "+" || event.key === "=") middle(2);
      else if (event.key === "-") middle(0.5);
      else if (event.key === "0") reset();
      else if (moves[event.key]) { x += moves[event.key][0]; y += moves[event.key][1]; show(); }
      else return;
      event.preventDefault();
    });
    window.addEventListener("resize", show);
    show();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".zoom"), zoomable);

  // (Not picture.decode(): a headless browser that paints nothing never
  // settles it.)
  var loaded = Array.prototype.map.call(document.images, function (picture) {
    return new Promise(function (done) {
      if (picture.complete) { done(); return; }
      picture.addEventListener("load", done);
      picture.addEventListener("error", done);
    }).then(function () {
      picture.dataset.naturalWidth = picture.naturalWidth;
      if (!picture.naturalWidth) window.hmmSay("a picture did not load: " + picture.alt);
    });
  });
  Promise.all(loaded).then(function () { document.body.dataset.ready = "1"; });
})();
""" % MOST_ZOOM
