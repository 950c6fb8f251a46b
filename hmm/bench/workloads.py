"""The workloads: real programs on generated inputs, and C stress programs.

Each workload says which programs it needs, how to make its inputs (once
per benchmark, shared read-only by every run) and the command of one run.
A run starts in a fresh empty directory, which is also its HOME and TMPDIR;
what it prints on stdout, plus the files named in ``outputs``, must be the
same under every allocator.

Sizes are (normal, quick): normal aims at 0.3 to 2 seconds under glibc on
a small machine, quick at a fraction of a second (the CI smoke test).
"""
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import inputs


@dataclass
class Command:
    argv: list
    env: dict = field(default_factory=dict)
    stdin: str = None          # a file to read as stdin (default /dev/null)
    outputs: tuple = ()        # files the run leaves in its directory, to compare


@dataclass
class Context:
    """What a workload's preparation and command may refer to."""
    inputs: Path          # this workload's input directory
    sources: Path         # the benchmarks/ directory
    binaries: dict        # compiled stress program name -> path
    programs: dict        # program name -> path
    size: int


@dataclass
class Workload:
    name: str
    kind: str             # "program" (a real program) or "stress" (benchmarks/stress)
    summary: str
    sizes: tuple          # (normal, quick)
    command: object       # Context -> Command
    prepare: object = None   # Context -> None, fills ctx.inputs
    programs: tuple = ()     # the programs it runs, looked up on PATH
    threaded: bool = False   # takes a thread count after its size (scaling.py)

    def size(self, quick, scale=1.0):
        normal, small = self.sizes
        return small if quick else max(1, round(normal * scale))


def find_program(name):
    """The program `name` as the workloads run it, or None.

    python3 is the system's when there is one (a real program, as the other
    workloads are), else the interpreter running the benchmark; a shim
    script, as version managers install, would measure the shim."""
    if name == "python3":
        for candidate in ("/usr/bin/python3", os.path.realpath(sys.executable)):
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None
    return shutil.which(name)


# Fixed names and dates, so that commit ids do not depend on the clock, and
# no configuration of the machine or the user.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
    "GIT_AUTHOR_DATE": "2021-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.org",
    "GIT_COMMITTER_DATE": "2021-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
    # No fsync: waiting for the disk is not the allocator's time, and it
    # is the noisiest part of a run.
    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsync", "GIT_CONFIG_VALUE_0": "none",
}


def _script(ctx, name):
    return str(ctx.sources / "workloads" / name)


def _prepare_sqlite(ctx):
    template = (ctx.sources / "workloads" / "sqlite.sql").read_text()
    (ctx.inputs / "script.sql").write_text(template.replace("@ROWS@", str(ctx.size)))


def _prepare_git(ctx):
    for version in (1, 2, 3):
        inputs.tree(str(ctx.inputs / f"v{version}"), ctx.size, version=version, lines=(50, 300))


def _stress(name, summary, sizes, threaded=False):
    return Workload(name, "stress", summary, sizes, threaded=threaded,
                    command=lambda ctx: Command([str(ctx.binaries[name]), str(ctx.size)]))


def all_workloads():
    """Every workload, in report order: real programs, then stress programs."""
    return [
        Workload("gcc", "program", "gcc -O2 -c on a generated C file of N functions",
                 (50, 4), programs=("gcc",),
                 prepare=lambda ctx: inputs.c_source(ctx.inputs / "big.c", ctx.size),
                 command=lambda ctx: Command(
                     [ctx.programs["gcc"], "-O2", "-c", str(ctx.inputs / "big.c"), "-o", "big.o"],
                     outputs=("big.o",))),
        Workload("python", "program",
                 "python3 with PYTHONMALLOC=malloc: dicts, lists, strings, json (N rounds)",
                 (20, 1), programs=("python3",),
                 command=lambda ctx: Command(
                     [ctx.programs["python3"], "-S", _script(ctx, "python_alloc.py"), str(ctx.size)],
                     env={"PYTHONMALLOC": "malloc"})),
        Workload("sqlite", "program",
                 "sqlite3 :memory: - recursive CTE insert of N rows, index, update, aggregates",
                 (100000, 5000), programs=("sqlite3",),
                 prepare=_prepare_sqlite,
                 command=lambda ctx: Command([ctx.programs["sqlite3"], "-batch", ":memory:"],
                                             stdin=str(ctx.inputs / "script.sql"))),
        Workload("sort", "program", "sort -k3,3 -k1,1 of N generated lines (LC_ALL=C)",
                 (300000, 10000), programs=("sort",),
                 prepare=lambda ctx: inputs.text_lines(ctx.inputs / "lines.txt", ctx.size),
                 command=lambda ctx: Command(
                     [ctx.programs["sort"], "-k3,3", "-k1,1", str(ctx.inputs / "lines.txt")])),
        Workload("perl", "program", "perl: hashes of arrays, regex rewrites, join/split (N rounds)",
                 (15, 1), programs=("perl",),
                 command=lambda ctx: Command(
                     [ctx.programs["perl"], _script(ctx, "perl_alloc.pl"), str(ctx.size)])),
        Workload("git", "program",
                 "git init, add and commit of three versions of an N-file tree, log -p, gc --aggressive",
                 (500, 40), programs=("git", "sh"),
                 prepare=_prepare_git,
                 command=lambda ctx: Command(
                     [ctx.programs["sh"], _script(ctx, "git.sh"), str(ctx.inputs)], env=GIT_ENV)),
        Workload("vim", "program", "vim -es: substitutions, :g, :sort, joins on an N-line file",
                 (30000, 3000), programs=("vim",),
                 prepare=lambda ctx: inputs.text_lines(ctx.inputs / "text.txt", ctx.size, seed=5),
                 command=lambda ctx: Command(
                     [ctx.programs["vim"], "-u", "NONE", "-i", "NONE", "-N", "-n", "-es",
                      "-S", _script(ctx, "vim_edits.vim"), str(ctx.inputs / "text.txt")],
                     outputs=("out.txt",))),
        Workload("xz", "program", "xz -T2 -3 of N MiB of generated text",
                 (6, 1), programs=("xz",),
                 prepare=lambda ctx: inputs.compressible(ctx.inputs / "data.txt", ctx.size),
                 command=lambda ctx: Command(
                     [ctx.programs["xz"], "-T2", "-3", "--block-size=1MiB", "-c",
                      str(ctx.inputs / "data.txt")])),
        Workload("ls", "program", "ls -lR of a generated tree of N files",
                 (40000, 500), programs=("ls",),
                 prepare=lambda ctx: inputs.tree(ctx.inputs / "tree", ctx.size),
                 command=lambda ctx: Command(
                     [ctx.programs["ls"], "-lR", "--time-style=+%s", str(ctx.inputs / "tree")])),
        _stress("cross_thread", "4 threads in a ring, each freeing the blocks its neighbour "
                "allocated (N rounds of 256 blocks)", (6000, 100)),
        _stress("producer_consumer", "2 producers, 2 consumers, one queue of messages "
                "(N messages per producer)", (800000, 10000)),
        _stress("churn", "random free and malloc (16..512 B) under 100k live blocks (N steps)",
                (2000000, 20000)),
        _stress("realloc_growth", "1000 strings grown byte by byte, vectors grown by doubling "
                "(N rounds)", (25, 1)),
        _stress("aligned", "posix_memalign/aligned_alloc, 16..4096 alignment, 4096 live (N steps)",
                (600000, 10000)),
        _stress("large_blocks", "64 KiB - 8 MiB blocks, replaced and realloc'ed, pages "
                "touched (N steps)", (2500, 50)),
        _stress("sbrk_segments", "100,000 small blocks over N segments the program made with "
                "sbrk, freed round-robin (N segments)", (10000, 10)),
        _stress("server", "4 worker threads handle N requests: 2..8 blocks of 8..1000 B each, "
                "about half freed by another worker", (700000, 2000), threaded=True),
        _stress("fifo_lifo", "batches of 25..1600 blocks of one size, freed half FIFO, "
                "half LIFO (N repetitions)", (2000, 20)),
        _stress("fifo_lifo_mt", "fifo_lifo in 2 threads at once, each its own blocks "
                "(N repetitions per thread)", (1500, 20)),
        _stress("exchange", "2 threads take turns allocating 1000 blocks and freeing "
                "the other's, through a lock-free ring (N phases)", (8000, 40)),
        _stress("aligned_mt", "aligned in 2 threads at once, 2048 live each "
                "(N steps per thread)", (1000000, 5000)),
    ]
