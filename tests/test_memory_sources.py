"""The process heap's memory sources: the break, and mmap when the break is
not ours to grow.

The core's growth and give-back over a simulated break are covered in
test_heap.py; here the real sbrk/mmap source is driven through libhmm.so.
"""
import hmm

from conftest import TIMEOUT, assert_served


def test_break_moved_by_the_program_and_then_blocked(compile_c, libhmm):
    exe = compile_c("break_blocked.c")
    proc = hmm.run([str(exe)], stats=True, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "ok\n"
    stats = assert_served(proc, min_allocs=3 * 64)
    # The first segment at the break, one above the program's own sbrk, and
    # at least one mapped when the break could not move.
    assert stats["segments"] >= 3, stats
    assert stats["free_calls"] >= 3 * 64, stats


def test_same_program_under_glibc_agrees(compile_c):
    """The program itself is sound: glibc runs it to the same result."""
    import subprocess

    exe = compile_c("break_blocked.c")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=TIMEOUT)
    assert (proc.returncode, proc.stdout) == (0, "ok\n")


def test_top_of_heap_goes_back_to_the_os(compile_c, libhmm):
    exe = compile_c("trim_top.c")
    proc = hmm.run([str(exe)], stats=True, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grown, trimmed = (int(x) for x in proc.stdout.split())
    # 16 MiB were allocated at the top and freed: the break came back down.
    assert grown >= 16 << 20
    assert trimmed <= 1 << 20, proc.stdout
    stats = assert_served(proc)
    assert stats["trim_calls"] >= 1, stats


def test_a_cycling_heap_keeps_its_top_until_it_pauses(compile_c, run_both, same, served, support):
    """Built and freed 200 times at once, 2 MiB at the top of the heap are
    not given back and faulted in again each time, as glibc does (which
    costs glibc some 95,000 page faults); after a pause, the next free gives
    the top back all the same."""
    exe = compile_c("trim_cycle.c")
    both = run_both([str(exe), "200"], text=True)
    same(both)
    faults = support.stderr_numbers(both, "faults")
    after = support.stderr_numbers(both, "after_pause")
    assert faults["glibc"] >= 20_000, faults  # the program does make glibc cycle
    assert faults["hmm"] * 10 <= faults["glibc"], faults
    assert after["hmm"] <= max(after["glibc"], 256 << 10), after
    stats = served(both.hmm, min_allocs=200 * 2000)
    assert stats["trim_calls"] >= 1 and stats["trim_calls"] <= 20, stats


def test_trim_delay_0_trims_at_once(compile_c, libhmm, support):
    exe = compile_c("trim_cycle.c")
    env = dict(support.base_env(), HMM_TRIM_DELAY="0")
    proc = hmm.run([str(exe), "50"], stats=True, env=env, capture_output=True, text=True,
                   timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    stats = assert_served(proc, min_allocs=50 * 2000)
    assert stats["trim_calls"] >= 50, stats  # every round gave its 2 MiB back
