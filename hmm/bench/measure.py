"""Building the C programs, and measuring one run of a command.

Each measured run goes through ``benchmarks/tools/measure.c``: a small
process started fresh for that run, which forks and execs the command,
waits for it, and reports the wall time, the CPU time (user + system) and
``ru_maxrss`` from its ``getrusage(RUSAGE_CHILDREN)``.  Because the helper
is new for each run, those children's figures are that run's alone.
``ru_maxrss`` is the peak resident set of the *largest single process* of
the run's tree (cc1 under the gcc driver, not the sum of both).
"""
import hashlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

CFLAGS = ["-std=gnu11", "-O2", "-pthread", "-Wall", "-Wextra"]


class BuildError(Exception):
    pass


def compile_program(gcc, source, output, extra_flags=()):
    """Compile one C file (with its directory on the include path)."""
    argv = [gcc, *CFLAGS, *extra_flags, "-I", str(Path(source).parent),
            "-o", str(output), str(source)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"compiling {source} failed:\n{' '.join(argv)}\n{proc.stderr}")
    return Path(output)


def compile_dir(gcc, directory, outdir, extra_flags=()):
    """Compile every .c file of `directory`; returns name -> executable."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return {src.stem: compile_program(gcc, src, outdir / src.stem, extra_flags)
            for src in sorted(Path(directory).glob("*.c"))}


@dataclass
class Measurement:
    status: int            # exit status, 128 + signal, or None on a timeout
    wall: float = None     # seconds
    cpu: float = None      # seconds, user + system, all processes of the run
    maxrss_kib: int = None  # the largest process's peak RSS
    timed_out: bool = False


def run_measured(measure, argv, *, env, cwd, stdin, stdout, stderr, preload=None,
                 timeout=None):
    """Run `argv` once under the `measure` helper and return a Measurement.

    `stdin`/`stdout`/`stderr` are paths (stdin None: /dev/null).  `preload`
    becomes the command's LD_PRELOAD (the helper itself stays on glibc).  On
    a timeout the whole process group is killed."""
    env = dict(env)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["MEASURE_LD_PRELOAD"] = preload
    result = Path(cwd).parent / (Path(cwd).name + ".measure")
    with open(stdin or os.devnull, "rb") as fin, open(stdout, "wb") as fout, \
            open(stderr, "wb") as ferr:
        proc = subprocess.Popen([str(measure), str(result), *argv], cwd=cwd, env=env,
                                stdin=fin, stdout=fout, stderr=ferr,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Measurement(None, timed_out=True)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    try:
        fields = result.read_text().split()
        result.unlink()
    except OSError:
        fields = []
    if proc.returncode != 0 or len(fields) != 5:
        # The helper itself failed (it says why on stderr).
        return Measurement(proc.returncode or 2)
    status, wall_ns, user_us, sys_us, maxrss = map(int, fields)
    return Measurement(status, wall_ns / 1e9, (user_us + sys_us) / 1e6, maxrss)


def digest(stdout_path, directory, outputs):
    """A digest of what a run produced: its stdout and the named files."""
    h = hashlib.sha256()
    for label, path in [("stdout", stdout_path)] + [(name, Path(directory) / name)
                                                     for name in outputs]:
        h.update(label.encode() + b"\0")
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except FileNotFoundError:
            h.update(b"<missing>")
        h.update(b"\0")
    return h.hexdigest()
