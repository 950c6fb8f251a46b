"""Faults from outside the allocator: the address space running out, and a
signal handler that calls malloc while the thread is already inside it
(served from the reserve by default, reported in check mode).

(fork while other threads allocate is tests/test_programs_threads.py; a break
moved by the program, and one that cannot move, are
tests/test_memory_sources.py.)
"""
import re
import subprocess

import pytest

import hmm

# The signal program gives up by itself after this many seconds; the test
# waits three times as long before calling it a deadlock.
REENTRY_SECONDS = 10
REENTRY_TIMEOUT = 30

REENTERED = re.compile(r"hmm: (\w+)\(\): re-entered on the same thread while in (\w+)\(\) "
                       r"\(from a signal handler\?\)")


def test_address_space_running_out(compile_c, run_both, same):
    exe = compile_c("rlimit_as.c")
    both = run_both([str(exe)], text=True)
    glibc, under = both
    assert glibc.returncode == 0, f"the program fails under glibc:\n{glibc.stdout}{glibc.stderr}"
    assert "the first failed request: NULL, errno ENOMEM: ok" in glibc.stdout, glibc.stdout
    same(both)
    stats = under.stats
    assert stats, f"HMM wrote no stats: was libhmm.so preloaded?\n{under.stderr}"
    assert stats.get("alloc_calls", 0) > 300, stats
    assert stats.get("free_calls", 0) > 300, stats
    # The NULLs were HMM's: the first failure, and malloc, calloc and
    # realloc asking for more than was left.
    assert stats.get("failed_calls", 0) >= 4, stats


def test_signal_handler_reentering_the_allocator_is_served(compile_c, support):
    """The default mode serves a handler's calls from the lock-free reserve:
    the program runs to its end, and the stats count those calls."""
    exe = compile_c("signal_reentry.c")
    proc = hmm.run([str(exe), "3"], capture_output=True, text=True, timeout=REENTRY_TIMEOUT,
                   env=support.base_env(), stats=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "no re-entry seen" in proc.stdout  # the program's words for "survived"
    assert not [line for line in proc.stderr.splitlines() if line.startswith("hmm: ")
                and "re-entered" in line], proc.stderr[-2000:]
    stats = support.assert_served(proc, min_allocs=10000)
    assert stats.get("reserve_calls", 0) > 0, f"no signal landed inside the allocator: {stats}"


def test_signal_handler_reentering_the_allocator_aborts_in_check_mode(compile_c, support):
    exe = compile_c("signal_reentry.c")
    argv = [str(exe), str(REENTRY_SECONDS)]
    try:
        proc = hmm.run(argv, capture_output=True, text=True, timeout=REENTRY_TIMEOUT,
                       env=support.base_env(HMM_CHECK=1))
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        pytest.fail(f"no answer within {REENTRY_TIMEOUT} s: the re-entered allocator "
                    f"deadlocked instead of reporting it\nstderr: {err!r}")
    out = f"exit {proc.returncode}\nstdout: {proc.stdout!r}\nstderr (tail):\n{proc.stderr[-2000:]}"
    assert "no re-entry seen" not in proc.stdout, (
        f"the program ran to its end: no re-entry was reported\n{out}")
    assert proc.returncode == -6, out
    lines = proc.stderr.splitlines()
    assert lines, out
    match = REENTERED.fullmatch(lines[-1])
    assert match, out
    # The re-entering call is the handler's; the interrupted one is main's.
    assert match.group(1) in ("malloc", "free"), out
    assert match.group(2) in ("malloc", "free", "realloc", "calloc", "memalign"), out
