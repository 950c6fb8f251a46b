"""hmm: HMM's tools under one command, with memray's and heaptrack's verbs.

    hmm run [hmm-run options] [--] program [args...]
    hmm report TRACE [options]
    hmm replay TRACE [--policy all|NAME,...]
    hmm bench [options]

``hmm run`` is exactly ``hmm-run`` (see hmm.cli), which records a trace
with ``--trace FILE``; ``hmm report`` says what a trace shows (see
``report_parser``); ``hmm bench`` is the benchmark of ``python -m hmm
bench`` (hmm.bench).

Exit status: the verb's; 2 on a usage error.  ``hmm report`` exits 1 when
a trace cannot be read or an output cannot be written, and when a trace is
damaged (it still reports on the part before the damage).
"""
import argparse
import contextlib
import json
import os
import sys

from . import __version__

PROG = "hmm"

HELP = f"""usage: {PROG} COMMAND [ARGS...]

HMM, the Heap Memory Manager: run a program with it, and see what the
program did with its heap.

commands:
  run      run a program with HMM as its malloc (exactly hmm-run; with
           --trace FILE it records every malloc call in FILE)
  report   report on a trace: summary, leaks, timeline, flame graph, mtrace,
           JSON, and the difference from another trace
  replay   replay a trace on a simulated heap under each placement policy
  bench    compare HMM with other mallocs on real programs

`{PROG} COMMAND --help` tells more about each.
options:
  -h, --help  show this help and exit
  --version   show the version and exit"""


def main(argv=None):
    """Entry point of `hmm`; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(HELP, file=sys.stderr)
        return 2
    verb, rest = argv[0], argv[1:]
    if verb in ("-h", "--help"):
        print(HELP)
        return 0
    if verb == "--version":
        print(f"{PROG} (hmm) {__version__}")
        return 0
    if verb not in VERBS:
        print(f"{PROG}: error: unknown command {verb!r}: the commands are "
              f"{', '.join(VERBS)} (see {PROG} --help)", file=sys.stderr)
        return 2
    return VERBS[verb](rest)


def _run(argv):
    from .cli import main as run_main
    return run_main(argv)


def _bench(argv):
    # What `python -m hmm bench` runs (hmm.cli's COMMANDS).
    from .bench import main as bench_main
    return bench_main(argv)


# ---- hmm report -------------------------------------------------------------------

REPORT = f"{PROG} report"


def _top_count(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a count (0 for all), got {text!r}")
    return value


def report_parser():
    from .trace_export import WEIGHTS
    p = argparse.ArgumentParser(
        prog=REPORT,
        description="Say what a trace of `hmm run --trace FILE prog` shows of the program's "
        "heap.  With no option, print the summary and then the leaks.",
        epilog="OUT may be - for stdout.  The trace may be damaged or cut short (a crash, a "
        "full disk): the report covers the calls before the damage, the damage is named on "
        "stderr, and the exit status is 1.")
    p.add_argument("trace", metavar="TRACE", help="the trace file")
    p.add_argument("--summary", action="store_true",
                   help="print the summary: threads, calls, bytes allocated, the peak in use, "
                   "what was live at exit, and the top allocation sites")
    p.add_argument("--leaks", action="store_true",
                   help="print the blocks live at exit, grouped by the stack that allocated "
                   "them, biggest first")
    p.add_argument("--top", type=_top_count, default=10, metavar="N",
                   help="sites in each list of the summary, and leak sites printed "
                   "(default 10; 0: all)")
    p.add_argument("--timeline", metavar="PNG", help="draw bytes in use over time as a PNG")
    p.add_argument("--timeline-csv", metavar="CSV",
                   help="write bytes in use over time as CSV (seconds,call,bytes_in_use)")
    p.add_argument("--mtrace", metavar="OUT",
                   help="write the calls as glibc's mtrace(3) log, for its mtrace script")
    p.add_argument("--flamegraph", metavar="OUT",
                   help="write collapsed stacks (frames outermost first, joined by ';', then "
                   "the weight), for flamegraph.pl or speedscope")
    p.add_argument("--weight", choices=WEIGHTS, default=None,
                   help="what --flamegraph weighs: bytes live at the peak (the default), bytes "
                   "live at exit, or allocation calls")
    p.add_argument("--json", metavar="OUT", help="write the summary and the leaks as JSON")
    p.add_argument("--html", metavar="OUT",
                   help="write one self-contained HTML page: the summary, the leaks, the "
                   "placement policies side by side and where the bytes went, and pictures of "
                   "the heap (zoomable) and of bytes in use over time")
    p.add_argument("--policy", metavar="all|NAME,...",
                   help="the placement policies --html replays the trace under (default: all)")
    p.add_argument("--diff", metavar="BASE",
                   help="print what grew from the trace BASE to TRACE: the sites (matched by "
                   "function names) holding more bytes at the peak or at exit")
    p.add_argument("--progress", action="store_true",
                   help="show progress on stderr even when it is not a terminal")
    return p


class _Failure(Exception):
    """A one-line error of `hmm report`, and its exit status."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def _report(argv):
    parser = report_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or argparse's usage error
        return exc.code if isinstance(exc.code, int) else 2
    if args.weight and not args.flamegraph:
        parser.print_usage(sys.stderr)
        print(f"{REPORT}: error: --weight goes with --flamegraph", file=sys.stderr)
        return 2
    if args.policy is not None:
        try:
            if not args.html:
                raise ValueError("--policy goes with --html")
            args.policy = _policy_names(args.policy)
        except ValueError as exc:
            parser.print_usage(sys.stderr)
            print(f"{REPORT}: error: {exc}", file=sys.stderr)
            return 2
    try:
        return _report_main(args)
    except _Failure as exc:
        print(f"{REPORT}: error: {exc}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:
        # `hmm report t | head`: nobody reads the rest.  Point stdout at
        # /dev/null, so that Python's flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _policy_names(text):
    """The policies a --policy of `text` names ("all", or names with
    commas), or a ValueError saying what is wrong."""
    from . import POLICIES
    names = list(POLICIES) if text == "all" else [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in POLICIES]
    if unknown or not names:
        raise ValueError(f"unknown policy {', '.join(unknown) or repr(text)}: the "
                         f"policies are {', '.join(POLICIES)}")
    return names


def _write_html(trace, args, progress):
    """The --html page, into a file opened before the replays (which take a
    while on a big trace) so that an unwritable path fails at once."""
    from . import report_html, trace_export
    with _output(args.html) as out:
        try:
            page = report_html.render(trace, args.policy, top=args.top, progress=progress)
        except trace_export.MissingPlotter as exc:
            raise _Failure(str(exc))
        try:
            out.write(page)
        except OSError as exc:
            raise _Failure(f"cannot write {args.html}: {exc.strerror or exc}")


def _progress_printer(asked):
    if not (asked or sys.stderr.isatty()):
        return None

    def say(line):
        print(f"{REPORT}: {line}", file=sys.stderr, flush=True)
    return say


def _load(path, progress):
    """The Trace at `path`, or a _Failure naming what is wrong."""
    import warnings

    from .trace import Trace, TraceError, TraceWarning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TraceWarning)
            trace = Trace.load(path, progress=progress)
    except FileNotFoundError:
        raise _Failure(f"{path}: no such file")
    except IsADirectoryError:
        raise _Failure(f"{path}: is a directory, not a trace")
    except OSError as exc:
        raise _Failure(f"{path}: {exc.strerror or exc}")
    except TraceError as exc:
        raise _Failure(str(exc))
    if trace.error is not None:
        print(f"{REPORT}: error: {trace.error}; reporting on the {len(trace):,} calls before it",
              file=sys.stderr)
    return trace


@contextlib.contextmanager
def _output(path):
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        f = open(path, "w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise _Failure(f"cannot write {path}: {exc.strerror or exc}")
    with f:
        yield f


def _report_main(args):
    from . import trace_export, trace_report

    progress = _progress_printer(args.progress)
    trace = _load(args.trace, progress)
    damaged = trace.error is not None
    base = None
    if args.diff:
        base = _load(args.diff, progress)
        damaged = damaged or base.error is not None

    files_asked = any((args.timeline, args.timeline_csv, args.mtrace, args.flamegraph, args.json,
                       args.html))
    text_asked = args.summary or args.leaks or args.diff
    show_summary = args.summary or not (files_asked or text_asked)
    show_leaks = args.leaks or not (files_asked or text_asked)

    sections = []
    if show_summary:
        sections.append(str(trace.summary(top=args.top)))
    if show_leaks:
        sections.append("leaks:\n\n" + trace_report.leaks_text(trace.leaks(), top=args.top))
    if base is not None:
        sections.append(str(trace_report.diff(base, trace, top=args.top)))
    if sections:
        print("\n\n".join(sections))
        sys.stdout.flush()

    if args.flamegraph:
        with _output(args.flamegraph) as out:
            trace_export.write_collapsed(trace, out, weight=args.weight or "peak")
    if args.mtrace:
        with _output(args.mtrace) as out:
            trace_export.write_mtrace(trace, out)
    if args.json:
        document = trace_export.report_dict(trace, top=args.top)
        if base is not None:
            document["diff"] = trace_report.diff(base, trace, top=args.top).to_dict()
        with _output(args.json) as out:
            json.dump(document, out, indent=1)
            out.write("\n")
    if args.timeline_csv:
        with _output(args.timeline_csv) as out:
            trace_export.write_timeline_csv(trace, out)
    if args.timeline:
        if args.timeline == "-":
            raise _Failure("--timeline needs a file name: a PNG does not go to stdout", 2)
        try:
            trace_export.write_timeline_png(trace, args.timeline)
        except trace_export.MissingPlotter as exc:
            raise _Failure(str(exc))
        except OSError as exc:
            raise _Failure(f"cannot write {args.timeline}: {exc.strerror or exc}")
    if args.html:
        _write_html(trace, args, progress)
    return 1 if damaged else 0


# ---- hmm replay --------------------------------------------------------------------

REPLAY = f"{PROG} replay"


def replay_parser():
    p = argparse.ArgumentParser(
        prog=REPLAY,
        description="Replay a trace's calls (an HMM trace, glibc's mtrace log or a CS:APP "
        ".rep trace), in their order, on a simulated heap under each "
        "placement policy, and print the policies side by side: peak heap, peak bytes in use, "
        "fragmentation at the peak, the largest free block then, the free blocks each "
        "allocation examined, and the time per call.")
    p.add_argument("trace", metavar="TRACE", help="the trace file")
    p.add_argument("--policy", default="all", metavar="all|NAME,...",
                   help="the policies to replay under (default: all)")
    p.add_argument("--where", action="store_true",
                   help="say where the bytes went at the peak: asked for, rounding and headers, "
                   "free holes, the top, mappings, bookkeeping (they add up to the footprint)")
    p.add_argument("--picture", metavar="PNG|SVG",
                   help="draw the heap at its peak under each policy, blocks coloured by the "
                   "site that allocated them")
    p.add_argument("--at", type=int, metavar="CALL",
                   help="--where and --picture at this call (the heap after calls 0 to CALL - 1) "
                   "instead of at each policy's peak")
    p.add_argument("--colour", choices=("site", "age"), default="site",
                   help="colour the blocks in use of --picture by the site that allocated them "
                   "(the default) or by their age at the peak")
    p.add_argument("--over-time", metavar="PNG|SVG",
                   help="draw the heap over time under each policy: its addresses against the "
                   "calls, dark where in use, light where free")
    p.add_argument("--timelines", metavar="PNG|SVG",
                   help="draw bytes in use and each policy's heap size, call by call")
    return p


def _load_foreign(path):
    """An HMM trace (as _load reads it), or glibc's mtrace log or a CS:APP
    .rep trace, imported."""
    from .trace_import import load_any
    try:
        with open(path, "rb") as f:
            if f.read(8) == b"HMMTRACE":
                return _load(path, None)
        return load_any(path)
    except FileNotFoundError:
        raise _Failure(f"{path}: no such file")
    except IsADirectoryError:
        raise _Failure(f"{path}: is a directory, not a trace")
    except OSError as exc:
        raise _Failure(f"{path}: {exc.strerror or exc}")
    except ValueError as exc:   # TraceImportError, or the reader's TraceError: not a trace of any kind
        raise _Failure(str(exc))


def _replay(argv):
    parser = replay_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    from . import replay
    try:
        names = _policy_names(args.policy)
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"{REPLAY}: error: {exc}", file=sys.stderr)
        return 2
    try:
        trace = _load_foreign(args.trace)
    except _Failure as exc:
        print(f"{REPLAY}: error: {exc}", file=sys.stderr)
        return exc.status
    if args.at is not None and not 0 <= args.at <= len(trace):
        parser.print_usage(sys.stderr)
        print(f"{REPLAY}: error: --at {args.at}: the trace has calls 0 to {len(trace):,}",
              file=sys.stderr)
        return 2
    over_time = bool(args.over_time or args.timelines)   # the pictures' history from the same replay
    replays = replay.replay_all(trace, names, history=over_time)
    print(f"{len(trace):,} calls of {trace.path} replayed on a simulated heap:")
    print(replay.table(replays))
    # --where and --picture: at each policy's peak, or at the call asked for.
    moments, when = replays, "at the peak"
    if args.at is not None:
        moments = [replay.ReplayedHeap(trace, name).goto(args.at).snapshot() for name in names]
        when = f"after call {args.at:,}"
    if args.where:
        print()
        print(replay.where_table(trace, moments, when))
    from . import heap_pictures

    def at_peak(trace, replays, path):
        return heap_pictures.heap_at_peak(trace, moments, path, colour=args.colour,
                                          when=when if args.at is not None else "at its peak")

    drawings = ((args.picture, "--picture", at_peak),
                (args.over_time, "--over-time", heap_pictures.heap_over_time),
                (args.timelines, "--timelines", heap_pictures.timelines))
    for path, option, draw in drawings:
        if not path:
            continue
        try:
            draw(trace, replays, path)
        except ImportError as exc:
            print(f"{REPLAY}: error: {option} needs matplotlib (pip install hmm[bench]): {exc}",
                  file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"{REPLAY}: error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        except ValueError as exc:   # matplotlib: a suffix it cannot write
            print(f"{REPLAY}: error: cannot write {path}: {exc}", file=sys.stderr)
            return 1
        print(f"{option.lstrip('-').replace('-', ' ')}: {path}")
    return 1 if trace.error is not None else 0


VERBS = {"run": _run, "report": _report, "replay": _replay, "bench": _bench}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
