"""Run a program with HMM preloaded, from Python.

    >>> p = hmm.run(["ls", "-l"], stats=True, capture_output=True, text=True)
    >>> p.returncode, p.stats["alloc_calls"]

This is ``subprocess.run`` plus two things: the environment preloads
``libhmm.so``, and with ``stats=True`` the statistics every process writes at
exit are collected (``.stats`` for the process started, ``.all_stats`` for
it and any children that also exited through the library).
"""
import os
import shutil
import subprocess
import tempfile

from . import stats as _stats
from .library import library_path, preload_value


class HmmProcess(subprocess.CompletedProcess):
    """A finished run: ``subprocess.CompletedProcess`` plus the statistics.

    ``stats``: dict name -> int of the process started (the one whose pid is
    ``pid``), or None when it wrote none: ``stats=False``, or it never ran
    the library's exit code (killed by a signal, left through ``_exit()``
    as dash does, or exec'd a static program).
    ``all_stats``: list of the dicts of every process that wrote stats.
    ``pid``: the process id of the child.
    """

    def __init__(self, args, returncode, stdout=None, stderr=None, *, pid=None,
                 stats=None, all_stats=()):
        super().__init__(args, returncode, stdout, stderr)
        self.pid = pid
        self.stats = stats
        self.all_stats = list(all_stats)

    def __repr__(self):
        base = super().__repr__()[:-1]
        return f"{base}, pid={self.pid!r}, stats={'None' if self.stats is None else '{...}'})"


def preload_env(env=None):
    """A copy of `env` (default ``os.environ``) with ``libhmm.so`` first in
    ``LD_PRELOAD``, by absolute path, keeping any entries already there."""
    result = dict(os.environ if env is None else env)
    result["LD_PRELOAD"] = preload_value(library_path(), result.get("LD_PRELOAD"))
    return result


def run(args, stats=False, env=None, check=False, *, check_mode=0, input=None,
        capture_output=False, timeout=None, **popen_kwargs):
    """Run `args` with HMM preloaded and wait for it; return an HmmProcess.

    `stats`: collect the statistics (HMM_STATS is pointed at a private
    temporary directory, read and removed after the run).  `env`: the
    environment to start from (default ``os.environ``).  `check`: raise
    ``subprocess.CalledProcessError`` on a non-zero exit status; the error
    carries ``stats``/``all_stats`` too.  `check_mode`: 1 or 2 runs the
    program in HMM's check mode (HMM_CHECK; see ``hmm-run --check``).
    Every other keyword (``input``,
    ``capture_output``, ``text``, ``cwd``, ``timeout``, ...) means what it
    means to ``subprocess.run``.
    """
    child_env = preload_env(env)
    if check_mode not in (0, 1, 2):
        raise ValueError(f"check_mode must be 0, 1 or 2, not {check_mode!r}")
    if check_mode:
        child_env["HMM_CHECK"] = str(check_mode)
    if capture_output:
        if popen_kwargs.get("stdout") is not None or popen_kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        popen_kwargs["stdout"] = subprocess.PIPE
        popen_kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        if popen_kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        popen_kwargs["stdin"] = subprocess.PIPE

    stats_dir = None
    if stats:
        stats_dir = tempfile.mkdtemp(prefix="hmm-stats-")
        # A template: %p is the pid, so a % in the directory's own name
        # (from TMPDIR) is written %%.
        child_env["HMM_STATS"] = os.path.join(stats_dir.replace("%", "%%"), "%p.txt")
    try:
        # Popen rather than subprocess.run: the top process's report is the
        # file named after its pid, and only Popen tells the pid.
        with subprocess.Popen(args, env=child_env, **popen_kwargs) as process:
            try:
                stdout, stderr = process.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                process.kill()
                exc.stdout, exc.stderr = process.communicate()
                raise
            except BaseException:
                process.kill()
                raise
            returncode = process.poll()
        all_stats = _stats.read_dir(stats_dir) if stats_dir else []
    finally:
        if stats_dir:
            shutil.rmtree(stats_dir, ignore_errors=True)

    top = next((s for s in all_stats if s.get("pid") == process.pid), None)
    result = HmmProcess(args, returncode, stdout, stderr, pid=process.pid,
                        stats=top, all_stats=all_stats)
    if check and returncode:
        error = subprocess.CalledProcessError(returncode, args, stdout, stderr)
        error.stats, error.all_stats = result.stats, result.all_stats
        raise error
    return result
