"""The process heap's speed and memory features, through libhmm.so:
per-thread caches, large blocks in mappings of their own, malloc_trim,
the HMM_* options.  tests/programs/process_heap.c holds one mode per
behaviour; each mode also runs under glibc, so that the program itself is
known to be right.
"""
import os
import re
import subprocess

import pytest

import hmm


def _run(exe, *args, support, env=None, stats=True):
    return hmm.run([str(exe), *args], stats=stats, capture_output=True, text=True,
                   timeout=support.TIMEOUT, env=env or support.base_env())


@pytest.fixture(scope="module")
def program(compile_c):
    return compile_c("process_heap.c")


@pytest.mark.parametrize("mode", ["large", "adaptive", "calloc", "threads", "trim"])
def test_mode_passes_under_glibc_and_hmm(program, support, served, mode):
    plain = subprocess.run([str(program), mode], capture_output=True, text=True,
                           timeout=support.TIMEOUT, env=support.base_env())
    assert (plain.returncode, plain.stdout) == (0, "ok\n"), plain.stdout
    proc = _run(program, mode, support=support)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "ok\n"
    served(proc)


def test_large_blocks_are_mapped_and_returned(program, support):
    proc = _run(program, "large", support=support)
    assert proc.returncode == 0, proc.stdout
    # The 8, then 32 MiB block lived in a mapping; by exit it is gone, and
    # the heap's segments never held it.
    assert proc.stats["mapped_blocks"] == 0
    assert proc.stats["peak_heap_size"] < 8 << 20, proc.stats


def test_thread_caches_serve_and_count_every_call(program, support):
    """A churn of N malloc/free pairs is counted exactly, and is served by
    the thread cache: the heap's blocks do not move."""
    small = _run(program, "churn", "1000", support=support).stats
    big = _run(program, "churn", "101000", support=support).stats
    assert big["alloc_calls"] - small["alloc_calls"] == 100_000
    assert big["free_calls"] - small["free_calls"] == 100_000
    assert big["peak_bytes_in_use"] == small["peak_bytes_in_use"]
    assert big["cached_blocks"] >= 1


def test_thread_caches_go_back_when_threads_exit(program, support):
    proc = _run(program, "threads", support=support)
    assert proc.returncode == 0, proc.stdout
    stats = proc.stats
    # 8 threads x 200 rounds x 64 blocks, all freed.
    assert stats["alloc_calls"] >= 8 * 200 * 64
    assert stats["free_calls"] >= 8 * 200 * 64
    # Only the main thread's cache (at most 32 blocks a class, 32 classes) is left.
    assert stats["cached_blocks"] <= 32 * 32, stats
    assert stats["blocks_in_use"] < 64, stats


def test_double_free_of_a_cached_block_aborts(program, support):
    proc = _run(program, "double", support=support, stats=False)
    assert proc.returncode == -6, proc.stdout + proc.stderr
    pointer = proc.stdout.split()[0]
    assert re.fullmatch(rf"hmm: free\(\): double free of {pointer} \(block of 48 bytes\)\n",
                        proc.stderr), proc.stderr


def test_no_thread_caches_with_hmm_tcache_0(program, support):
    env = support.base_env(HMM_TCACHE="0")
    stats = _run(program, "churn", "1000", support=support, env=env).stats
    assert stats["cached_blocks"] == 0
    assert stats["alloc_calls"] >= 1000


@pytest.mark.parametrize("policy", hmm.POLICIES)
def test_hmm_policy_selects_the_policy(program, support, served, policy):
    env = support.base_env(HMM_POLICY=policy)
    proc = _run(program, "threads", support=support, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert served(proc)["policy"] == policy


def test_default_policy_is_segregated(program, support):
    assert _run(program, "churn", "10", support=support).stats["policy"] == "segregated"


def test_bad_options_are_named_and_ignored(program, support):
    env = support.base_env(HMM_POLICY="fastest", HMM_TCACHE="12q")
    proc = _run(program, "churn", "10", support=support, env=env)
    assert proc.returncode == 0
    assert proc.stdout == "ok\n"
    assert "hmm: HMM_POLICY=fastest: unknown policy" in proc.stderr
    assert "hmm: HMM_TCACHE=12q: not a size" in proc.stderr
    assert proc.stats["policy"] == "segregated"


def test_unknown_policy_warning_lists_the_core_policies(program, support):
    # The list comes from the core's table of policies, as hmm.POLICIES does.
    env = support.base_env(HMM_POLICY="fastest")
    proc = _run(program, "churn", "10", support=support, env=env)
    assert proc.returncode == 0
    assert (f"hmm: HMM_POLICY=fastest: unknown policy ({', '.join(hmm.POLICIES)}), ignored\n"
            in proc.stderr)


def test_fixed_mmap_threshold_does_not_adapt(program, support):
    env = support.base_env(HMM_MMAP_THRESHOLD="64k")
    proc = _run(program, "adaptive", support=support, env=env)
    assert proc.returncode == 1
    assert "1 MiB still got a mapping" in proc.stdout
