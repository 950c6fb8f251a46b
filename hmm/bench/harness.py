"""The benchmark itself: prepare, warm up, run the rounds, check, summarise.

Method (benchmarks/README.md says why):

* Inputs are generated once; one untimed run per workload under glibc warms
  the page cache and records the reference output.
* In each round every workload runs under every allocator, one after the
  other (A B C, A B C, ...), the order of the allocators rotating from round
  to round, so that slow drifts of a shared machine hit all of them alike.
* Every run's stdout and output files must equal glibc's; a run that
  differs, fails or times out is reported and makes the benchmark fail.
* A pair far slower than glibc (SLOW_FACTOR) is measured in one round only.
* Per workload and allocator: the median over rounds of wall time, CPU time
  and peak RSS, and the median of the per-round ratios to glibc.
"""
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import measure, micro, statistics
from .workloads import Context

METRIC_KEYS = ("wall", "cpu", "maxrss_kib")

# A pair (workload, allocator) whose first run takes more than SLOW_FACTOR
# times glibc's warm-up run, and more than SLOW_SECONDS, is not run again:
# the first ratio says all there is to say, and repeating it would take the
# time of the whole benchmark.
SLOW_FACTOR = 10
SLOW_SECONDS = 5.0


@dataclass
class Run:
    workload: str
    allocator: str
    round: int
    status: int = None
    wall: float = None
    cpu: float = None
    maxrss_kib: int = None
    matched: bool = None
    error: str = None

    @property
    def ok(self):
        return self.error is None

    def as_json(self):
        return dict(self.__dict__)


@dataclass
class Setup:
    """Everything the rounds need, decided before the first run."""
    workdir: Path
    sources: Path
    allocators: list
    workloads: list
    programs: dict
    binaries: dict          # stress program name -> executable
    measure_bin: Path
    rounds: int
    quick: bool
    scale: float
    timeout: float = None   # None: derived from each workload's warm-up
    log: object = sys.stderr
    notes: list = field(default_factory=list)


def base_env(directory, extra=()):
    """The environment of every run: the caller's PATH and nothing else of
    theirs (no LD_PRELOAD, MALLOC_*, PYTHON*), a private HOME and TMPDIR,
    the C locale and UTC."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory),
           "TMPDIR": str(directory), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
    for mapping in extra:
        env.update(mapping)
    return env


def _first_difference(a_path, b_path):
    """A short description of where two text files first differ."""
    try:
        with open(a_path, "rb") as a, open(b_path, "rb") as b:
            for number, (la, lb) in enumerate(zip(a, b), 1):
                if la != lb:
                    return (f"stdout line {number}: {lb[:80].decode(errors='replace').rstrip()!r} "
                            f"instead of {la[:80].decode(errors='replace').rstrip()!r}")
    except OSError:
        return ""
    return "stdout lengths differ"


class Bench:
    def __init__(self, setup):
        self.s = setup
        self.runs = []
        self.failures = []
        self.reference = {}       # workload -> (digest, stdout path)
        self.timeouts = {}        # workload -> seconds
        self.contexts = {}
        self.dead = set()         # (workload, allocator) that timed out: not run again
        self.slow = set()         # (workload, allocator) measured once: too slow to repeat
        self.warm = {}            # workload -> glibc's warm-up wall time
        self.skipped = []         # workloads without a glibc reference

    def say(self, text):
        print(text, file=self.s.log, flush=True)

    # ---- inputs and the warm-up ------------------------------------------

    def prepare(self):
        for w in self.s.workloads:
            directory = self.s.workdir / "inputs" / w.name
            directory.mkdir(parents=True, exist_ok=True)
            ctx = Context(directory, self.s.sources, self.s.binaries, self.s.programs,
                          w.size(self.s.quick, self.s.scale))
            self.contexts[w.name] = ctx
            if w.prepare:
                self.say(f"preparing {w.name} inputs (N={ctx.size})")
                w.prepare(ctx)

    def warm_up(self):
        """One untimed glibc run per workload: the reference output."""
        glibc = next(a for a in self.s.allocators if a.name == "glibc")
        for w in list(self.s.workloads):
            run = self._run(w, glibc, 0, timeout=self.s.timeout or 600)
            if not run.ok:
                self.failures.append(f"{w.name}: the glibc reference run failed: {run.error}")
                self.say(f"FAILED: {w.name} under glibc (reference run): {run.error}")
                self.skipped.append(w.name)
                self.s.workloads.remove(w)
                continue
            self.timeouts[w.name] = self.s.timeout or max(120.0, 100 * run.wall)
            self.warm[w.name] = run.wall
            self.say(f"warm-up {w.name} glibc: {run.wall:.2f} s")

    # ---- one run ---------------------------------------------------------

    def _run(self, w, alloc, round_number, timeout):
        ctx = self.contexts[w.name]
        cmd = w.command(ctx)
        tag = f"{w.name}-{alloc.name}-{round_number}"
        runs_dir = self.s.workdir / "runs"
        runs_dir.mkdir(exist_ok=True)
        directory = runs_dir / tag
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir()
        stdout, stderr = runs_dir / f"{tag}.out", runs_dir / f"{tag}.err"
        env = base_env(directory, (alloc.env_for(directory), cmd.env))
        m = measure.run_measured(self.s.measure_bin, alloc.argv_for(cmd.argv, directory),
                                 env=env, cwd=directory,
                                 stdin=cmd.stdin, stdout=stdout, stderr=stderr,
                                 preload=alloc.library, timeout=timeout)
        run = Run(w.name, alloc.name, round_number, m.status, m.wall, m.cpu, m.maxrss_kib)
        if m.timed_out:
            run.error = f"timed out after {timeout:.0f} s"
        elif m.status != 0:
            tail = stderr.read_bytes()[-600:].decode(errors="replace").strip()
            run.error = f"exit status {m.status}" + (f": {tail}" if tail else "")
        else:
            alloc.strip_banner(stdout)
            got = measure.digest(stdout, directory, cmd.outputs)
            if round_number == 0:
                keep = self.s.workdir / "reference" / f"{w.name}.out"
                keep.parent.mkdir(exist_ok=True)
                shutil.copyfile(stdout, keep)
                self.reference[w.name] = (got, keep)
                run.matched = True
            else:
                want, keep = self.reference[w.name]
                run.matched = got == want
                if not run.matched:
                    run.error = ("output differs from glibc's "
                                 + _first_difference(keep, stdout)).strip()
        shutil.rmtree(directory, ignore_errors=True)
        stdout.unlink(missing_ok=True)
        stderr.unlink(missing_ok=True)
        return run

    # ---- the rounds --------------------------------------------------------

    def rounds(self):
        allocators = self.s.allocators
        total = self.s.rounds * len(self.s.workloads) * len(allocators)
        done = 0
        for r in range(1, self.s.rounds + 1):
            shift = (r - 1) % len(allocators)
            order = allocators[shift:] + allocators[:shift]
            for w in self.s.workloads:
                for alloc in order:
                    done += 1
                    prefix = f"[{done}/{total}] {w.name} {alloc.name} round {r}"
                    pair = (w.name, alloc.name)
                    if pair in self.dead:
                        self.say(f"{prefix}: skipped (timed out before)")
                        continue
                    if pair in self.slow:
                        self.say(f"{prefix}: skipped (measured once: too slow to repeat)")
                        continue
                    run = self._run(w, alloc, r, self.timeouts[w.name])
                    self.runs.append(run)
                    if run.ok and run.wall > max(SLOW_SECONDS, SLOW_FACTOR * self.warm[w.name]) \
                            and alloc.name != "glibc":
                        self.slow.add(pair)
                        self.say(f"{prefix}: {run.wall:.2f} s, {run.wall / self.warm[w.name]:.0f}"
                                 f" times glibc's: not repeated")
                        self.s.notes.append(f"{w.name} under {alloc.name} ran in one round only: "
                                            f"{run.wall:.1f} s, more than {SLOW_FACTOR} times "
                                            "glibc's time")
                    elif run.ok:
                        self.say(f"{prefix}: {run.wall:.2f} s")
                    else:
                        self.say(f"{prefix}: FAILED: {run.error}")
                        self.failures.append(f"{w.name} under {alloc.name}, round {r}: "
                                             f"{run.error}")
                        if run.error.startswith("timed out"):
                            self.dead.add((w.name, alloc.name))

    # ---- results -------------------------------------------------------------

    def summarise(self):
        """(results, geomean): per workload and allocator the medians and
        paired ratios; per allocator the geometric means of the ratios."""
        by = {}
        for run in self.runs:
            entry = by.setdefault(run.workload, {}).setdefault(
                run.allocator, {"ok": {k: {} for k in METRIC_KEYS}, "failed": 0})
            if run.ok:
                for k in METRIC_KEYS:
                    entry["ok"][k][run.round] = getattr(run, k)
            else:
                entry["failed"] += 1
        results = {}
        for w in self.s.workloads:
            base = by.get(w.name, {}).get("glibc", {"ok": {k: {} for k in METRIC_KEYS}})
            results[w.name] = {}
            for alloc in self.s.allocators:
                entry = by.get(w.name, {}).get(alloc.name)
                if entry is None:
                    continue
                summary = {"runs": len(entry["ok"]["wall"]), "failed": entry["failed"]}
                for k in METRIC_KEYS:
                    values = entry["ok"][k]
                    summary[k] = {
                        "median": statistics.median(values.values()) if values else None,
                        "ratio": statistics.paired_ratio(values, base["ok"][k]),
                        "per_round": [values.get(r) for r in range(1, self.s.rounds + 1)],
                    }
                results[w.name][alloc.name] = summary
        geomean = {}
        for alloc in self.s.allocators:
            g = {}
            for k in METRIC_KEYS:
                ratios = [results[w][alloc.name][k]["ratio"] for w in results
                          if alloc.name in results[w]
                          and results[w][alloc.name][k]["ratio"] is not None]
                g[k] = statistics.geometric_mean(ratios)
                g["workloads"] = len(ratios)
            geomean[alloc.name] = g
        return results, geomean


# ---- callgrind ---------------------------------------------------------------


def run_micro(valgrind, micros, binaries, allocators, workdir, quick, log=sys.stderr):
    """{micro name: {allocator: {...per_op...}}} and a list of failures."""
    results, failures = {}, []
    total = len(micros) * len(allocators)
    done = 0
    for m in micros:
        n = m.iterations[1] if quick else m.iterations[0]
        row = results.setdefault(m.name, {})
        for alloc in allocators:
            done += 1
            if alloc.wrapper:   # a profiler under callgrind measures valgrind and itself
                continue
            env = base_env(workdir, (alloc.env_for(workdir),))
            if alloc.library:
                env["LD_PRELOAD"] = alloc.library
            out = workdir / f"callgrind.{m.name}.{alloc.name}.out"
            try:
                ir_n = micro.instructions(valgrind, m.argv(binaries[m.program], n), env, out,
                                          timeout=1800)
                ir_2n = micro.instructions(valgrind, m.argv(binaries[m.program], 2 * n), env,
                                           out, timeout=1800)
            except Exception as exc:   # a crash under one allocator must not stop the rest
                row[alloc.name] = {"error": str(exc)}
                failures.append(f"micro {m.name} under {alloc.name}: {exc}")
                print(f"[micro {done}/{total}] {m.name} {alloc.name}: FAILED: {exc}",
                      file=log, flush=True)
                continue
            per = micro.per_operation(ir_n, ir_2n, n, m.ops_per_iteration)
            row[alloc.name] = {"per_op": round(per, 1), "n": n, "ir_n": ir_n, "ir_2n": ir_2n}
            print(f"[micro {done}/{total}] {m.name} {alloc.name}: {per:.0f} instructions "
                  f"per {m.per}", file=log, flush=True)
    return results, failures
