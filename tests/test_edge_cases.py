"""The corners of the malloc API, under glibc and under HMM, with
tests/programs/edge_cases.c.

Each section of the program prints facts that do not depend on addresses or
rounding; the two runs must print the same facts and exit the same way.  The
stats then show that HMM served the section: the calls it makes reached
HMM, and where the section's requests fail on purpose, the failures were
HMM's (failed_calls), not a preload that silently did nothing.
"""
import pytest

SECTIONS = ["align", "memalign", "huge", "overflow", "badalign",
            "errno", "usable", "realloc", "zero"]

# Counters that must have moved in the HMM run of each section, with the
# least each must reach.  failed_calls is here for the sections whose
# requests fail on purpose, and must stay 0 for those that ask nothing
# impossible.
EXPECTED = {
    "align": {"alloc_calls": 4097, "calloc_calls": 2 * 4097, "realloc_calls": 2 * 4097},
    "memalign": {"memalign_calls": 13 * 5 * 3, "free_calls": 13 * 5 * 3},
    "huge": {"failed_calls": 4 * 8},
    "overflow": {"failed_calls": 6, "calloc_calls": 1},
    "badalign": {"memalign_calls": 7},
    "errno": {"alloc_calls": 4096, "free_calls": 4096, "failed_calls": 1},
    "usable": {"alloc_calls": 2001, "calloc_calls": 2001, "realloc_calls": 50},
    "realloc": {"realloc_calls": 8},
    "zero": {"alloc_calls": 1000, "calloc_calls": 3},
}
NOTHING_FAILS = {"align", "memalign", "usable", "zero"}


@pytest.fixture(scope="module")
def program(compile_c):
    return compile_c("edge_cases.c")


def _served(stats, section, proc):
    where = f"section {section}: stats {stats}\nstderr:\n{proc.stderr[-2000:]}"
    assert stats, f"HMM wrote no stats: was libhmm.so preloaded?\n{where}"
    assert stats.get("alloc_calls", 0) > 0, f"no malloc reached HMM\n{where}"
    for name, least in EXPECTED[section].items():
        assert stats.get(name, 0) >= least, f"{name} {stats.get(name, 0)} < {least}\n{where}"
    if section in NOTHING_FAILS:
        assert stats.get("failed_calls", 0) == 0, f"HMM failed a request\n{where}"


@pytest.mark.parametrize("section", SECTIONS)
def test_section_same_under_glibc_and_hmm(program, run_both, same, section):
    both = run_both([str(program), section], text=True)
    glibc, under = both
    # The program's own verdict: what every allocator must do held under glibc.
    assert glibc.returncode == 0, f"the program fails under glibc:\n{glibc.stdout}{glibc.stderr}"
    assert glibc.stdout.startswith(f"[{section}]\n") and glibc.stdout.count("\n") > 1, glibc.stdout
    same(both)
    _served(under.stats, section, under)


def test_every_section_in_one_process(program, run_both, same):
    """The sections one after another: the failures and the huge and
    odd-sized blocks of one do not disturb the next.  (aligned_alloc is left
    to its own test: glibc versions differ there.)"""
    both = run_both([str(program), *SECTIONS], text=True)
    assert both.glibc.returncode == 0, both.glibc.stdout
    same(both)
    stats = both.hmm.stats
    assert stats and stats.get("alloc_calls", 0) > 10000, stats
    assert stats.get("failed_calls", 0) > 0, stats


def test_aligned_alloc_follows_c17(program, support):
    """aligned_alloc with an alignment that is not a power of two: C17, and
    glibc from 2.38, fail with EINVAL; glibc 2.36 (Debian 12) rounds it up
    as memalign does.  HMM does what the standard says, whatever glibc the
    machine has, so this is checked against the rule, not against glibc."""
    import hmm
    proc = hmm.run([str(program), "aligned_alloc"], stats=True, text=True,
                   env=support.base_env(), capture_output=True, timeout=support.TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("aligned_alloc(")]
    assert len(lines) >= 5, proc.stdout
    for line in lines:
        alignment = int(line[len("aligned_alloc("):line.index(",")])
        power_of_two = alignment and not alignment & (alignment - 1)
        if power_of_two:
            assert ": a block" in line and "aligned: yes" in line, line
        else:
            assert line.endswith(": NULL, errno EINVAL"), line
    assert proc.stats.get("memalign_calls", 0) >= 1, proc.stats
