"""Arenas: threads that meet on medium and aligned blocks get heaps of their own.

arena_threads.c runs two workers of medium (realloc'ed) and aligned blocks,
handing blocks to each other, while the main thread forks: the output must
be glibc's, HMM must have served it, and with one arena at least (the
workers did meet).  A double free of a block in an arena is reported as one
in the process heap is.
"""
import re
import signal

import hmm


def test_two_threads_of_medium_and_aligned_blocks(compile_c, run_both, same, served):
    exe = compile_c("arena_threads.c")
    both = run_both([str(exe), "run", "60000"], text=True)
    same(both)
    assert "children 40 ok" in both.hmm.stdout, both.hmm.stdout
    stats = served(both.hmm, min_allocs=2 * 60000)
    assert stats["arenas"] >= 1, stats  # the workers met on the process heap's lock
    assert stats["memalign_calls"] >= 2 * 60000 // 4, stats
    assert stats["blocks_in_use"] <= 10, stats  # everything came back, to every heap


def test_the_arenas_of_exited_threads_are_taken_again(compile_c, run_both, same, served):
    """Twelve pairs of workers, one pair after another: each pair meets, but
    the arena a pair leaves serves the next, where twelve would be made (up
    to 8) if none were handed on."""
    exe = compile_c("arena_threads.c")
    both = run_both([str(exe), "generations", "12", "8000"], text=True)
    same(both)
    stats = served(both.hmm, min_allocs=12 * 2 * 8000)
    assert 1 <= stats["arenas"] <= 2, stats


def test_m_arena_max_1_keeps_one_heap(compile_c, run_both, same, served):
    """glibc's M_ARENA_MAX counts its main arena: 1 is the process heap alone."""
    exe = compile_c("arena_threads.c")
    both = run_both([str(exe), "run", "20000", "1"], text=True)
    same(both)
    stats = served(both.hmm, min_allocs=2 * 20000)
    assert stats["arenas"] == 0, stats


def test_one_heap_without_the_caches(compile_c, libhmm, support):
    """HMM_TCACHE=0 keeps one heap, for a learner to see one policy at work."""
    exe = compile_c("arena_threads.c")
    env = dict(support.base_env(), HMM_TCACHE="0")
    proc = hmm.run([str(exe), "run", "5000"], stats=True, env=env, capture_output=True,
                   text=True, timeout=support.TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    stats = support.assert_served(proc, min_allocs=2 * 5000)
    assert stats["arenas"] == 0, stats


def test_a_double_free_in_an_arena_is_named(compile_c, libhmm, support):
    exe = compile_c("arena_threads.c")
    proc = hmm.run([str(exe), "double_free"], capture_output=True, text=True,
                   timeout=support.TIMEOUT)
    out = proc.stdout.split()
    assert out and out[0].startswith("0x"), proc.stdout + proc.stderr
    assert "survived" not in proc.stdout
    assert proc.returncode == -signal.SIGABRT, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    pattern = (rf"hmm: free\(\): double free of {out[0]} "
               r"\((block|now part of a free block) of \d+ bytes\)")
    assert re.fullmatch(pattern, lines[0]), lines[0]
