"""``hmm-run bench``: compare HMM with glibc and other mallocs, side by side.

    python -m hmm bench [--quick] [--allocators LIST] [--workloads LIST] ...
    python -m hmm bench --scaling server [--threads 1,2,4,8] [--plot PNG]

Runs real programs (gcc, python3, sqlite3, sort, perl, git, vim, xz, ls) on
generated inputs and the C stress programs of ``benchmarks/stress`` under
every allocator, interleaved, and reports wall time, CPU time and peak RSS
as paired ratios to glibc; then counts instructions per malloc/free with
callgrind (``benchmarks/micro``).  With ``--scaling``, runs one threaded
stress program at several thread counts instead and reports its throughput
per thread count (scaling.py).  See benchmarks/README.md.

Exit status: 0 when every run succeeded with glibc's output, 1 when a run
failed, crashed, timed out or printed something else, 2 on a usage error.
"""
import argparse
import dataclasses
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import allocators as _allocators
from . import measure, report, scaling
from .harness import Bench, Setup, base_env, run_micro
from .micro import MICROS
from .workloads import all_workloads, find_program

PROG = "hmm-run bench"


def default_sources():
    """benchmarks/ of the source tree this package sits in."""
    return Path(__file__).resolve().parents[2] / "benchmarks"


def _names(text):
    return [n.strip() for n in text.split(",") if n.strip()]


def _thread_counts(text):
    try:
        counts = [int(n) for n in _names(text)]
    except ValueError:
        counts = []
    if not counts or any(n < 1 or n > 64 for n in counts):
        raise argparse.ArgumentTypeError(f"expected thread counts 1..64, got {text!r}")
    return sorted(set(counts))


def _lib(text):
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def parser():
    p = argparse.ArgumentParser(
        prog=PROG, description="Compare allocators on the same workloads, side by side, "
        "as ratios to glibc.  Lower is better.")
    p.add_argument("--allocators", type=_names, metavar="LIST",
                   help="comma-separated allocators (default: every one available; "
                   "see --list)")
    p.add_argument("--lib", type=_lib, action="append", default=[], metavar="NAME=PATH",
                   help="another malloc to preload, under NAME (repeatable)")
    p.add_argument("--workloads", type=_names, metavar="LIST",
                   help="comma-separated workloads (default: all whose programs are "
                   "installed; 'none' for micro figures only)")
    p.add_argument("--micro", type=_names, metavar="LIST",
                   help="callgrind micro programs (default: all; 'none' to skip)")
    p.add_argument("--rounds", type=int, default=None, metavar="N",
                   help="rounds of every workload under every allocator (default 5, "
                   "1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="tiny inputs and one round: a smoke test, not a measurement")
    p.add_argument("--scale", type=float, default=1.0, metavar="F",
                   help="multiply the normal workload sizes by F (default 1)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="per run (default: 100 times glibc's warm-up run, at least 120 s)")
    p.add_argument("--scaling", metavar="WORKLOAD",
                   help="run this threaded stress workload (server) at each of --threads "
                   "and report its throughput per thread count, instead of the workloads")
    p.add_argument("--threads", type=_thread_counts, metavar="LIST",
                   help="thread counts for --scaling (default "
                   f"{','.join(map(str, scaling.DEFAULT_THREADS))})")
    p.add_argument("--plot", metavar="PATH",
                   help="with --scaling: draw the throughput as a PNG line plot "
                   "(needs matplotlib: pip install 'hmm[bench]')")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the Markdown report")
    p.add_argument("--sources", type=Path, default=None, metavar="DIR",
                   help="the benchmarks/ directory (default: the source tree's)")
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    p.add_argument("--list", action="store_true",
                   help="list the allocators, workloads and micro programs, and exit")
    return p


class Fatal(Exception):
    pass


def _select(kind, wanted, available):
    by_name = {x.name: x for x in available}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise Fatal(f"unknown {kind} {', '.join(unknown)}; available: "
                    f"{', '.join(by_name) or 'none'}")
    return [by_name[n] for n in dict.fromkeys(wanted)]


def _hmm_library(name=None):
    try:
        from ..library import LIBRARY_NAME, library_path
        return library_path(name or LIBRARY_NAME)
    except FileNotFoundError:
        return None


def _pin_hmm(allocs, workdir, notes):
    """Preload a private copy of libhmm.so: a rebuild in the source tree
    while the benchmark runs must not change (or break) what it measures."""
    copies = {}
    for a in allocs:
        if a.kind in ("hmm", "tracer") and a.library and a.library not in copies:
            original = a.library
            copy = workdir / "lib" / Path(original).name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(original, copy)
            digest = hashlib.sha256(copy.read_bytes()).hexdigest()[:16]
            notes.append(f"{Path(original).name}: {original} (sha256 {digest}...), preloaded "
                         "from a copy taken at the start")
            copies[original] = str(copy)
    return [dataclasses.replace(a, library=copies[a.library], origin=a.library)
            if a.library in copies else a for a in allocs]


def _check_preloads(allocs, whose_malloc, workdir):
    """Fail unless each allocator really provides malloc and free in a run."""
    for alloc in allocs:
        if alloc.wrapper:
            continue   # a profiler over glibc: nothing of ours to check
        env = base_env(workdir, (alloc.env_for(workdir),))
        if alloc.library:
            env["LD_PRELOAD"] = alloc.library
        proc = subprocess.run([str(whose_malloc)], env=env, capture_output=True, text=True)
        found = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
        if alloc.library:
            want = Path(alloc.library).resolve()
            bad = [f for f in ("malloc", "free")
                   if found.get(f, "?") == "?" or Path(found[f]).resolve() != want]
        else:
            bad = [f for f in ("malloc", "free") if "libc.so" not in found.get(f, "")]
        if proc.returncode != 0 or bad:
            raise Fatal(f"{alloc.name}: {', '.join(bad) or 'the check'} not served by "
                        f"{alloc.library or 'libc'} ({proc.stdout.strip()} "
                        f"{proc.stderr.strip()})".strip())


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return _main(args)
    except Fatal as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except measure.BuildError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _print_list(every_allocator, hmm_library):
    print("allocators:")
    for a in every_allocator:
        print(f"  {a.name:18} {a.describe()}")
    if not hmm_library:
        print("  (hmm: libhmm.so is not built)")
    print("workloads:")
    for w in all_workloads():
        print(f"  {w.name:18} {w.summary}")
    print("micro programs:")
    for m in MICROS:
        print(f"  {m.name:18} {m.summary}")


@dataclasses.dataclass
class Plan:
    """What the command line asked for, checked against the machine."""
    allocators: list
    workloads: list
    programs: dict
    micros: list
    valgrind: str
    gcc: str
    sources: Path
    rounds: int
    notes: list


def _choose_allocators(args, every_allocator, hmm_library, notes):
    if args.allocators:
        allocs = _select("allocator", args.allocators, every_allocator)
    else:
        allocs = [a for a in every_allocator if a.default]
        if not hmm_library:
            raise Fatal("libhmm.so is not built (python build_hmm.py), or leave hmm out "
                        "with --allocators")
    # The baseline always runs, and first.
    allocs = [a for a in every_allocator if a.name == "glibc"] + \
             [a for a in allocs if a.name != "glibc"]
    if any(a.env.get("HMM_POLICY") for a in allocs) and \
            not _allocators.library_reads_policy(hmm_library):
        notes.append("this libhmm.so does not read HMM_POLICY: every hmm-POLICY ran the "
                     "default policy")
    return allocs


def _choose_workloads(args, notes):
    """(workloads, programs they run): a workload whose program is missing
    is an error when asked for by name, else skipped with a note."""
    workloads = all_workloads()
    if args.scaling:
        (base,) = _select("workload", [args.scaling], workloads)
        if not base.threaded:
            threaded = [w.name for w in workloads if w.threaded]
            raise Fatal(f"--scaling: {base.name} takes no thread count; threaded "
                        f"workloads: {', '.join(threaded)}")
        return scaling.variants(base, args.threads or scaling.DEFAULT_THREADS), {}
    if args.workloads == ["none"]:
        chosen = []
    elif args.workloads:
        chosen = _select("workload", args.workloads, workloads)
    else:
        chosen = workloads
    selected, programs = [], {}
    for w in chosen:
        missing = [p for p in w.programs if not find_program(p)]
        if missing and args.workloads:
            raise Fatal(f"workload {w.name} needs {', '.join(missing)}, not installed")
        if missing:
            notes.append(f"{w.name} skipped: {', '.join(missing)} not installed")
            continue
        programs.update({p: find_program(p) for p in w.programs})
        selected.append(w)
    return selected, programs


def _choose_micros(args, notes):
    """(micro programs, valgrind)."""
    if args.micro == ["none"] or (args.scaling and not args.micro):
        return [], None
    micros = _select("micro program", args.micro, MICROS) if args.micro else list(MICROS)
    valgrind = shutil.which("valgrind")
    if not valgrind:
        if args.micro:
            raise Fatal("--micro needs valgrind, which is not installed")
        notes.append("callgrind figures skipped: valgrind is not installed")
        return [], None
    return micros, valgrind


def _plan(args):
    hmm_library = _hmm_library()
    every_allocator = _allocators.available(args.lib, hmm_library,
                                            _hmm_library("libhmm-trace.so"))
    if args.list:
        _print_list(every_allocator, hmm_library)
        return None
    notes = []
    if args.scaling and args.workloads:
        raise Fatal("--scaling chooses the workloads: leave out --workloads")
    if (args.threads or args.plot) and not args.scaling:
        raise Fatal("--threads and --plot go with --scaling WORKLOAD")
    if args.plot:
        try:
            scaling.check_plotting()
        except ImportError as exc:
            raise Fatal(str(exc)) from None
    allocs = _choose_allocators(args, every_allocator, hmm_library, notes)
    sources = args.sources or default_sources()
    if not (sources / "stress").is_dir():
        raise Fatal(f"the benchmark sources are not at {sources}: run from a source "
                    "checkout of HMM, or pass --sources DIR")
    workloads, programs = _choose_workloads(args, notes)
    micros, valgrind = _choose_micros(args, notes)
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        raise Fatal("a C compiler (gcc) is needed to build the benchmark programs")
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    if rounds < 1:
        raise Fatal("--rounds must be at least 1")
    return Plan(allocs, workloads, programs, micros, valgrind, gcc, sources, rounds, notes)


def _main(args):
    plan = _plan(args)
    if plan is None:
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="hmm-bench-"))
    try:
        data = _execute(args, plan, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report.markdown(data)
    sys.stdout.write(text)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    if args.json:
        report.write_json(data, args.json)
    if args.plot and data.get("scaling"):
        scaling.plot(data["scaling"], args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    if data["failures"]:
        print(f"{PROG}: {len(data['failures'])} failure(s):", file=sys.stderr)
        for f in data["failures"]:
            print(f"  {f}", file=sys.stderr)
    return 1 if data["failures"] else 0


def _execute(args, plan, workdir):
    """Build, check, run everything; returns the report's data."""
    gcc, sources, notes = plan.gcc, plan.sources, plan.notes
    print(f"building the benchmark programs in {workdir}", file=sys.stderr)
    tools = measure.compile_dir(gcc, sources / "tools", workdir / "bin")
    binaries = measure.compile_dir(gcc, sources / "stress", workdir / "bin")
    # no builtins: gcc must not fold a malloc/free pair away
    micro_bins = measure.compile_dir(gcc, sources / "micro", workdir / "micro",
                                     ["-fno-builtin"]) if plan.micros else {}
    allocs = _pin_hmm(plan.allocators, workdir, notes)
    _check_preloads(allocs, tools["whose_malloc"], workdir)

    setup = Setup(workdir, sources, allocs, plan.workloads, plan.programs, binaries,
                  tools["measure"], plan.rounds, args.quick, args.scale, args.timeout,
                  notes=notes)
    bench = Bench(setup)
    bench.prepare()
    bench.warm_up()
    bench.rounds()
    results, geomean = bench.summarise()
    micro_results, micro_failures = {}, []
    if plan.micros:
        micro_results, micro_failures = run_micro(plan.valgrind, plan.micros, micro_bins,
                                                  allocs, workdir, args.quick)
    failures = bench.failures + micro_failures
    throughput = None
    if args.scaling:
        counts = args.threads or scaling.DEFAULT_THREADS
        operations = bench.contexts[scaling.variant_name(args.scaling, counts[0])].size
        throughput = scaling.throughput(results, args.scaling, counts,
                                        [a.name for a in allocs], operations)
    return {
        "date": report.now(),
        "machine": report.machine(),
        "settings": {"rounds": plan.rounds, "quick": args.quick, "scale": args.scale,
                     "timeout": args.timeout},
        "allocators": [dict(a.as_json(), describe=a.describe()) for a in allocs],
        "workloads": [{"name": w.name, "kind": w.kind, "summary": w.summary,
                       "size": bench.contexts[w.name].size,
                       "argv": [str(a) for a in w.command(bench.contexts[w.name]).argv]}
                      for w in setup.workloads],
        "micro_programs": [{"name": m.name, "summary": m.summary, "per": m.per}
                           for m in plan.micros],
        "outputs_matched": all(r.matched is not False for r in bench.runs),
        "results": results,
        "geomean": geomean,
        "micro": micro_results,
        "scaling": throughput,
        "runs": [r.as_json() for r in bench.runs],
        "failures": failures,
        "notes": notes,
        "ok": not failures,
    }
