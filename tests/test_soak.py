"""A soak: four threads allocating, reallocating, handing over and freeing
at random for a few seconds, with every byte checked
(tests/programs/soak.c).

The same program runs under glibc first, briefly, to show the program itself
is right; then under HMM in its default mode and in check mode.  The number
of operations differs from run to run; only the verdict is compared.
"""
import re
import subprocess

import pytest

import hmm

# A deadlock must fail the test, not hang it: the program stops by itself
# after its seconds, so this much more is only ever reached by a hang.
GRACE = 60

SUMMARY = re.compile(r"ops (\d+) corruptions (\d+) failures (\d+) handovers (\d+)\n")


@pytest.fixture(scope="module")
def program(compile_c):
    return compile_c("soak.c")


def _verdict(proc):
    out = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr (tail):\n{proc.stderr[-3000:]}"
    match = SUMMARY.fullmatch(proc.stdout)
    assert match, f"no summary line\n{out}"
    ops, corruptions, failures, handovers = (int(g) for g in match.groups())
    assert corruptions == 0, out
    assert failures == 0, out
    assert proc.returncode == 0, out
    assert ops > 10_000, out
    assert handovers > 100, out
    return ops


def _run_hmm(program, seconds, support, **env):
    argv = [str(program), str(seconds), "4"]
    try:
        return hmm.run(argv, stats=True, capture_output=True, text=True,
                       timeout=seconds + GRACE, env=support.base_env(**env))
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{argv} {env} did not finish within {seconds + GRACE} s: deadlock?\n"
                    f"stderr: {exc.stderr!r}")


def _served_all_of_it(proc, support):
    stats = support.assert_served(proc, min_allocs=10_000)
    for name in ("alloc_calls", "free_calls", "realloc_calls", "calloc_calls", "memalign_calls"):
        assert stats.get(name, 0) > 1000, f"{name}: {stats}"
    # Every block was freed before exit, the mapped 1 MiB ones too: HMM's
    # accounting lost none of them (what is left is stdio's and the like).
    assert stats["blocks_in_use"] < 64, stats
    assert stats["mapped_blocks"] == 0, stats
    return stats


def test_soak_under_glibc(program, support):
    """The control: the program finds nothing wrong with glibc's malloc."""
    proc = subprocess.run([str(program), "2", "4"], capture_output=True, text=True,
                          timeout=2 + GRACE, env=support.base_env())
    _verdict(proc)


def test_soak_under_hmm(program, support):
    """Default mode: zero corruption, every block accounted for."""
    proc = _run_hmm(program, 6, support)
    ops = _verdict(proc)
    stats = _served_all_of_it(proc, support)
    assert stats["free_calls"] > ops // 4, (ops, stats)


def test_soak_under_hmm_check_mode(program, support):
    proc = _run_hmm(program, 4, support, HMM_CHECK="2", HMM_CHECK_EVERY="5000")
    _verdict(proc)
    stats = _served_all_of_it(proc, support)
    # it ran in check mode, with the periodic whole-heap check, and every
    # call went through the checks (no thread caches)
    assert stats["check"] == 2 and stats["cached_blocks"] == 0, stats
