"""How fast a recorded program replays under each placement policy, how
fast the replayed heap seeks, and how long the pictures and the HTML page
take: the figures of `hmm replay` and `hmm report --html`.

    python benchmarks/replay_speed.py [--programs ls,vim,...] [--out DIR] [--seeks N]

Records the eight programs of the README's "Learning placement on real
programs" (with the thread caches off, as there), prints that section's
table (each policy's footprint at its peak, fragmentation, blocks examined
per allocation), then for each program:
  * replays it under every policy: calls a second in the replay loop (the
    goal: at least 5 million under each, one policy at a time), and free
    blocks examined per allocation (first and next fit's count what their
    walk passes; a replay finds where it stops through an index);
  * seeks a replayed heap (segregated fit, and best fit) to random calls
    after a first pass: the slowest seek (the goal: at most 1 s for a
    10-million-call trace);
  * draws the heap at its peak, over time and the timelines, and writes
    the HTML page, under segregated fit alone: seconds and bytes (the
    goals: at most 10 s and 5 MB for ten million calls).

This is a benchmark to run by hand, not a test: its figures depend on the
machine (run it on a quiet one; every figure is the program's own, no
ratio to another allocator).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a source tree

import hmm  # noqa: E402
from hmm import heap_pictures, replay, report_html  # noqa: E402

PYTHON_DICTS = ("import json\n"
                "rows = [{'id': i, 'name': 'n%d' % i, 'tags': ['t%d' % (i % 7)] * (i % 5)}"
                " for i in range(60000)]\n"
                "text = json.dumps(rows)\n"
                "back = json.loads(text)\n"
                "print(len(text), len(back))\n")

SQL = ("create table t(a integer primary key, b text, c real);\n"
       "with recursive n(x) as (select 1 union all select x + 1 from n where x < 50000)\n"
       "insert into t select x, printf('row %d', x), x * 0.5 from n;\n"
       "create index tb on t(b);\n"
       "select count(*), sum(length(b)) from t where b like 'row 1%';\n")


def programs(work):
    """{name: (argv, environment)}: the README's eight."""
    lines = work / "lines.txt"
    lines.write_text("".join(f"{i} some text to edit here\n" for i in range(1, 20001)))
    source = work / "x.c"
    source.write_text("".join(f"int f{i}(int a) {{ return a * {i} + (a > {i} ? "
                              f"f{max(i - 1, 0)}(a - 1) : 0); }}\n" for i in range(400)))
    return {
        "ls": (["ls", "-lR", "/usr/lib/python3"], {}),
        "vim": (["vim", "-u", "NONE", "-i", "NONE", "-N", "-es", "-c", "%s/e/E/g", "-c", "g/5/d",
                 "-c", "sort", "-c", "wq", str(lines)], {"TERM": "dumb"}),
        "git": (["git", "-C", str(HERE.parent), "log", "-p", "-20"], {"GIT_PAGER": "cat"}),
        "python3": (["python3", "-S", "-c", PYTHON_DICTS], {"PYTHONMALLOC": "malloc"}),
        "sqlite3": (["sqlite3", ":memory:", SQL], {}),
        "perl": (["perl", "-e", "my %h; for my $i (1..40000) { $h{$i} = [($i) x ($i % 9)] } "
                  "print scalar(keys %h), qq(\\n)"], {}),
        "gcc": (["gcc", "-O2", "-c", "-o", str(work / "x.o"), str(source)], {}),
        "bash": (["bash", "-c", "a=(); for i in $(seq 1 20000); do a+=(x$i); done; echo ${#a[@]}"],
                 {}),
    }


def record(name, argv, env, work):
    """The program run under HMM with tracing; the trace of its process
    with the most calls (gcc: cc1)."""
    out = work / f"{name}.trace"
    hmm_run = shutil.which("hmm-run") or [sys.executable, "-m", "hmm"]
    command = ([hmm_run] if isinstance(hmm_run, str) else hmm_run + ["run"])
    subprocess.run(command + ["--trace", str(out), "--trace-depth", "8", "--", *argv],
                   env=dict(os.environ, HMM_TCACHE="0", LC_ALL="C", **env), check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    traces = sorted(work.glob(f"{name}.trace*"), key=lambda p: p.stat().st_size)
    return hmm.Trace.load(traces[-1])


def slowest_seek(trace, policy, seeks):
    heap = trace.replay(policy)
    started = time.perf_counter()
    heap.goto(len(trace))
    first = time.perf_counter() - started
    worst = 0.0
    for target in np.random.default_rng(1).integers(0, len(trace), seeks).tolist():
        started = time.perf_counter()
        heap.goto(target)
        worst = max(worst, time.perf_counter() - started)
    return first, worst


def drawing(trace, out):
    """(seconds for the three pictures, seconds and bytes of the page),
    under segregated fit."""
    started = time.perf_counter()
    replays = [replay.replay(trace, "segregated", history=True)]
    for name, draw in (("peak", heap_pictures.heap_at_peak), ("over-time", heap_pictures.heap_over_time),
                       ("timelines", heap_pictures.timelines)):
        draw(trace, replays, out / f"{name}.png")
    pictures = time.perf_counter() - started
    started = time.perf_counter()
    page = out / "page.html"
    page.write_text(report_html.render(trace, ["segregated"]))
    return pictures, time.perf_counter() - started, page.stat().st_size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", default="ls,vim,git,python3,sqlite3,perl,gcc,bash")
    parser.add_argument("--out", help="keep the traces and pictures here (default: a temporary folder)")
    parser.add_argument("--seeks", type=int, default=20, help="random seeks a replayed heap makes")
    args = parser.parse_args()
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="hmm-replay-"))
    work.mkdir(parents=True, exist_ok=True)
    table = programs(work)
    speed = ["| program | calls | " + " | ".join(f"{p} M calls/s (examined)" for p in hmm.POLICIES)
             + " | seek, segregated (first pass) | seek, best fit (first pass) | pictures | page |",
             "|---|---:|" + "---:|" * (len(hmm.POLICIES) + 4)]
    placement = ["| program | calls | in use at peak | " + " | ".join(hmm.POLICIES) + " |",
                 "|---|---:|---:|" + "---:|" * len(hmm.POLICIES)]
    for name in args.programs.split(","):
        argv, env = table[name]
        trace = record(name, argv, env, work)
        rates, cells = [], []
        for policy in hmm.POLICIES:
            r = replay.replay(trace, policy)
            rate = r.calls / r.seconds / 1e6 if r.seconds else 0
            rates.append(f"{rate:.1f} ({r.examined_per_allocation:.1f})")
            cells.append(f"{r.peak_footprint / 2**20:.2f} MiB · {r.fragmentation:.0%} · "
                         f"{r.examined_per_allocation:,.1f}")
        placement.append(f"| `{name}` | {len(trace):,} | {r.peak_in_use / 2**20:.2f} MiB | "
                         + " | ".join(cells) + " |")
        seg_first, seg_worst = slowest_seek(trace, "segregated", args.seeks)
        best_first, best_worst = slowest_seek(trace, "best-fit", args.seeks)
        pictures, page_seconds, page_bytes = drawing(trace, work)
        speed.append(f"| {name} | {len(trace):,} | " + " | ".join(rates) +
                     f" | {seg_worst:.2f} s ({seg_first:.1f} s) | {best_worst:.2f} s ({best_first:.1f} s)"
                     f" | {pictures:.1f} s | {page_seconds:.1f} s, {page_bytes / 1e6:.2f} MB |")
        print(f"{name}: done", file=sys.stderr, flush=True)
    print("\n".join(placement) + "\n\n" + "\n".join(speed))
    print(f"\ntraces in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
