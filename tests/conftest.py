"""Shared fixtures for the tests that run real programs under HMM.

The program tests compare a run under glibc's malloc with the same run under
libhmm.so (preloaded through ``hmm.run``) and then check, from the stats the
library writes at exit, that HMM really served the allocations.  A test that
compared outputs alone would also pass if the preload silently did nothing.

Nothing here skips: a missing library or a missing program is a failure that
says what is missing.
"""
import collections
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hmm

TESTS = Path(__file__).resolve().parent
PROGRAMS = TESTS / "programs"
ROOT = TESTS.parent

# Every subprocess gets a deadline, so a deadlock fails instead of hanging.
TIMEOUT = 180

# Variables that would change how a child behaves under one allocator but not
# the other, or leak a developer's own setup into a run.
_SCRUBBED = ("LD_PRELOAD", "HMM_STATS", "MALLOC_CHECK_", "MALLOC_PERTURB_",
             "GLIBC_TUNABLES", "PYTHONMALLOC")


def pytest_report_header(config):
    where = Path(hmm.__file__).resolve().parent
    try:
        lib = hmm.library_path()
    except Exception as exc:  # the session fixture turns this into a failure
        lib = f"not available ({exc})"
    return [f"hmm package: {where}", f"libhmm.so: {lib}"]


def base_env(**extra):
    """The environment every program test starts from: ours, scrubbed."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def require_program(name):
    """The absolute path of `name`, or a failure saying it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"required program {name!r} is not installed "
                    f"(.ci/run installs it); this test does not skip")
    return path


def parse_stats(text):
    """One stats report ('hmm: pid N' then 'hmm: NAME VALUE' lines) -> dict.

    The pid is stored under 'pid'.  Lines that are not part of a report are
    ignored, so this also works on a stderr that holds other output."""
    stats = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "hmm:":
            try:
                stats[parts[1]] = int(parts[2], 10)
            except ValueError:
                try:
                    stats[parts[1]] = int(parts[2], 16)
                except ValueError:
                    continue
    return stats


def read_stats_dir(directory):
    """Every stats file written under HMM_STATS=<directory>/%p.txt."""
    return [parse_stats(p.read_text()) for p in sorted(Path(directory).glob("*.txt"))]


@pytest.fixture(scope="session")
def libhmm():
    """The absolute path of libhmm.so; fails (never skips) when it is not built."""
    try:
        path = hmm.library_path()
    except Exception as exc:
        pytest.fail(f"libhmm.so is not available: {exc}. Build it first with "
                    f"'python build_hmm.py' (in place) or 'pip install .'")
    path = Path(path)
    if not path.is_absolute() or not path.is_file():
        pytest.fail(f"hmm.library_path() returned {path}, which is not an absolute "
                    f"path to an existing file; build with 'python build_hmm.py'")
    return path


@pytest.fixture(scope="session")
def compile_c(tmp_path_factory, libhmm):
    """compile_c(name, *flags) -> path of tests/programs/<name> built with gcc.

    Built once per session per (name, flags) with -pthread; a compiler error
    fails the test with gcc's message."""
    gcc = require_program("gcc")
    outdir = tmp_path_factory.mktemp("programs")
    cache = {}

    def build(name, *flags):
        key = (name, flags)
        if key not in cache:
            src = PROGRAMS / name
            exe = outdir / f"{Path(name).stem}-{len(cache)}"
            argv = [gcc, "-std=gnu11", "-O1", "-g", "-Wall", "-pthread",
                    *flags, "-o", str(exe), str(src), "-ldl"]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
            if proc.returncode != 0:
                pytest.fail(f"compiling {name} failed:\n{' '.join(argv)}\n{proc.stderr}")
            cache[key] = exe
        return cache[key]

    return build


Both = collections.namedtuple("Both", "glibc hmm")


def _copy_tree(src, dst):
    shutil.copytree(src, dst, symlinks=True)


@pytest.fixture
def run_both(libhmm, tmp_path):
    """run_both(argv, **kw) -> Both(glibc=..., hmm=...).

    Runs `argv` once with plain subprocess.run (glibc's malloc) and once with
    hmm.run(..., stats=True) (libhmm.so preloaded), with the same env, cwd and
    input.  Output is captured; `timeout` defaults to TIMEOUT.

    Programs that change files get a directory each: pass ``workdir=<dir>``
    and the runs happen in fresh copies of it, ``<tmp>/glibc`` and
    ``<tmp>/hmm`` (available as ``.cwd`` on each result), so their effects can
    be compared afterwards.  Pass ``workdir=(glibc_dir, hmm_dir)`` to keep
    using the same two directories over several runs."""
    counter = [0]

    def run(argv, *, env=None, cwd=None, workdir=None, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("timeout", TIMEOUT)
        env = base_env() if env is None else dict(env)
        if workdir is not None:
            if isinstance(workdir, tuple):
                gdir, hdir = workdir
            else:
                counter[0] += 1
                gdir = tmp_path / f"glibc-{counter[0]}"
                hdir = tmp_path / f"hmm-{counter[0]}"
                _copy_tree(workdir, gdir)
                _copy_tree(workdir, hdir)
        else:
            gdir = hdir = cwd
        glibc = subprocess.run(argv, env=env, cwd=gdir, **kw)
        under = hmm.run(argv, stats=True, env=env, cwd=hdir, **kw)
        glibc.cwd = Path(gdir) if gdir is not None else None
        under.cwd = Path(hdir) if hdir is not None else None
        return Both(glibc, under)

    return run


def _describe(proc):
    err = proc.stderr
    if isinstance(err, bytes):
        err = err.decode(errors="replace")
    return f"argv={proc.args!r} exit={proc.returncode}\nstderr (tail):\n{(err or '')[-2000:]}"


def assert_served(proc, min_allocs=1, stats=None):
    """The run was served by HMM: its stats exist, it allocated, nothing failed."""
    stats = proc.stats if stats is None else stats
    assert stats, f"HMM wrote no stats for the top process: was libhmm.so preloaded?\n{_describe(proc)}"
    calls = (stats.get("alloc_calls", 0) + stats.get("calloc_calls", 0)
             + stats.get("realloc_calls", 0) + stats.get("memalign_calls", 0))
    assert calls >= min_allocs, f"only {calls} allocation calls reached HMM: {stats}"
    assert stats.get("alloc_calls", 0) > 0, f"no malloc reached HMM: {stats}"
    assert stats.get("peak_bytes_in_use", 0) > 0, f"HMM never had a byte in use: {stats}"
    assert stats.get("peak_heap_size", 0) > 0, f"HMM's heap never grew: {stats}"
    assert stats.get("failed_calls", 0) == 0, f"HMM failed allocations: {stats}"
    return stats


def assert_same(both, *, stdout=True, stderr=False):
    """The two runs agree on exit code and (by default) stdout."""
    g, h = both
    assert h.returncode == g.returncode, (
        f"exit code {h.returncode} under HMM, {g.returncode} under glibc\n"
        f"HMM run: {_describe(h)}\nglibc run: {_describe(g)}")
    if stdout:
        assert h.stdout == g.stdout, f"stdout differs under HMM\nHMM run: {_describe(h)}"
    if stderr:
        assert h.stderr == g.stderr, "stderr differs under HMM"


def stderr_numbers(both, key):
    """{"glibc": N, "hmm": N} from the line "<key> N" each run printed on
    stderr (the memory programs measure themselves that way)."""
    import re
    found = {}
    for name, proc in zip(("glibc", "hmm"), both):
        match = re.search(rf"^{re.escape(key)} (\d+)$", proc.stderr, re.M)
        assert match, f"{name}: no '{key}' line on stderr\n{proc.stderr[-2000:]}"
        found[name] = int(match.group(1))
    return found


@pytest.fixture
def served():
    """The assert_served helper, as a fixture."""
    return assert_served


@pytest.fixture
def same():
    """The assert_same helper, as a fixture."""
    return assert_same


@pytest.fixture(scope="session")
def support():
    """The plain helpers of this file, for test modules (which should not
    import conftest: that breaks under --import-mode=importlib)."""
    import types
    return types.SimpleNamespace(
        TIMEOUT=TIMEOUT, ROOT=ROOT, PROGRAMS=PROGRAMS, base_env=base_env,
        require_program=require_program, parse_stats=parse_stats,
        read_stats_dir=read_stats_dir, assert_served=assert_served,
        assert_same=assert_same, stderr_numbers=stderr_numbers)


@pytest.fixture(scope="session")
def hmm_run_bin(tmp_path_factory):
    """A directory holding an `hmm-run` that runs this session's hmm package.

    Put first on PATH, it makes the examples use the same hmm as the tests,
    whether that is the source tree (built in place) or an installed copy."""
    bindir = tmp_path_factory.mktemp("bin")
    pkg_parent = Path(hmm.__file__).resolve().parent.parent
    # hmm-run, and the hmm command with its verbs.
    for name, module in (("hmm-run", "hmm.cli"), ("hmm", "hmm.command")):
        script = bindir / name
        # sys.path[0] is the current directory for `python -c`: replace it, so
        # that a source tree there cannot shadow the package under test.
        code = (f"import sys; sys.path[0] = {str(pkg_parent)!r}; "
                f"from {module} import main; sys.exit(main())")
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -c {shlex.quote(code)} "$@"\n')
        script.chmod(0o755)
    return bindir
