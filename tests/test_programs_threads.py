"""Threads and fork under HMM, with tests/programs/thread_fork.c."""
import subprocess

import hmm


def test_thread_fork_under_glibc(compile_c, support):
    """The program itself is right: it passes on glibc's malloc."""
    exe = compile_c("thread_fork.c")
    proc = subprocess.run([str(exe), "50"], capture_output=True, text=True,
                          timeout=support.TIMEOUT, env=support.base_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "forks 50 ok 50 failed 0" in proc.stdout


def test_thread_fork_under_hmm(compile_c, support, served):
    exe = compile_c("thread_fork.c")
    # The timeout is the watchdog: a deadlocked parent fails the test.  A
    # deadlocked child is killed by its own alarm and reported by the parent.
    proc = hmm.run([str(exe), "200"], stats=True, capture_output=True, text=True,
                   timeout=support.TIMEOUT, env=support.base_env())
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    assert "forks 200 ok 200 failed 0" in proc.stdout, proc.stdout + proc.stderr
    handed, freed = proc.stdout.split("handed over ")[1].split(" freed ")
    assert int(handed) == int(freed.split()[0]) > 1000
    stats = served(proc, min_allocs=1000)
    assert stats["free_calls"] > 1000
    assert stats["realloc_calls"] > 0 and stats["calloc_calls"] > 0
    # The children left with _exit: only the parent reported.
    assert [r["pid"] for r in proc.all_stats] == [proc.pid]
