"""Programs shaped like real ones that do the odd things glibc allows: fork
handlers of other libraries that allocate, fork from a signal handler, fork
while threads use stdio, crash handlers that allocate after a misuse
report, signal handlers that allocate while their thread is inside malloc,
threads cancelled inside the allocator's reporting functions, and what
mallinfo2, mallopt, malloc_info and posix_memalign tell a program.

Each program runs under glibc and under HMM; the two runs must end the same
way and print the same, and HMM's stats (or its one line on stderr) show
that HMM served the run.  A hang is a deadlock: every run has a deadline,
and missing it fails the test with what the program had printed.
"""
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

import hmm

DEADLINE = 60


def _run(argv, *, under_hmm, env, timeout=DEADLINE, **kw):
    """One run; a missed deadline fails the test, naming the allocator."""
    runner = hmm.run if under_hmm else subprocess.run
    extra = {"stats": True} if under_hmm else {}
    try:
        return runner(argv, env=env, capture_output=True, text=True, timeout=timeout, **extra, **kw)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        who = "HMM" if under_hmm else "glibc"
        pytest.fail(f"{argv[0]} under {who} did not finish in {timeout} s (a deadlock?)\n"
                    f"stdout: {out!r}\nstderr: {(err or '')[-2000:]!r}")


def _both(argv, support, **kw):
    env = support.base_env()
    return _run(argv, under_hmm=False, env=env, **kw), _run(argv, under_hmm=True, env=env, **kw)


def _same_end(glibc, under):
    assert under.returncode == glibc.returncode, (
        f"exit {under.returncode} under HMM, {glibc.returncode} under glibc\n"
        f"HMM stdout: {under.stdout!r}\nHMM stderr: {under.stderr[-2000:]!r}")
    assert under.stdout == glibc.stdout


def _build(compile_c, program):
    if program == "fork_atfork.c":  # linked against a library with fork handlers
        lib = compile_c("atfork_lib.c", "-shared", "-fPIC")
        return compile_c(program, "-Wl,--no-as-needed", str(lib))
    return compile_c(program)


# Programs that fork while something else goes on: (program, argument, the
# line glibc's run prints, deadline).  A deadlock is a missed deadline.
FORKS = {
    "other_librarys_handlers_allocate": (
        "fork_atfork.c", "300", "300 forks, 300 seen by the library's handlers, 0 children failed", 60),
    "threads_forking_at_the_same_time": (
        "fork_concurrent.c", "300", "4 threads forked 300 times each, 0 children failed", 120),
    "threads_using_stdio": (
        "fork_stdio_threads.c", "2000", "2000 forks with stdio busy in two threads, 0 children failed",
        120),
    "from_a_signal_handler_that_interrupted_malloc": (
        "fork_in_signal_handler.c", "300", "at least 300 forks from a signal handler, 0 children failed",
        60),
}


@pytest.mark.parametrize("case", sorted(FORKS))
def test_fork(compile_c, support, case):
    program, arg, line, deadline = FORKS[case]
    glibc, under = _both([str(_build(compile_c, program)), arg], support, timeout=deadline)
    assert glibc.returncode == 0 and line in glibc.stdout, glibc.stdout + glibc.stderr
    _same_end(glibc, under)
    support.assert_served(under, min_allocs=1000)


@pytest.mark.parametrize("mode", ["alloc", "logger"])
def test_crash_handler_allocates_after_a_misuse_report(compile_c, support, mode):
    exe = compile_c("abort_handler_alloc.c")
    glibc, under = _both([str(exe), mode], support, timeout=30)
    assert glibc.returncode == -6, glibc.stdout + glibc.stderr
    who = "logger thread" if mode == "logger" else "SIGABRT handler"
    assert f"{who}: crash report written, allocations ok" in glibc.stdout
    _same_end(glibc, under)
    lines = [line for line in under.stderr.splitlines() if line.startswith("hmm:")]
    assert len(lines) == 1, under.stderr[-3000:]
    assert re.fullmatch(r"hmm: free\(\): double free of 0x[0-9a-f]+ \(block of 48 bytes\)",
                        lines[0]), lines


def test_calloc_after_a_misuse_report_is_zeroed(compile_c, support):
    """After a misuse report every call is served by the reserve, which
    carves a chunk's bytes again once its blocks are all freed: calloc must
    zero what it hands out, as glibc's does."""
    exe = compile_c("abort_handler_alloc.c")
    glibc, under = _both([str(exe), "calloc"], support, timeout=30)
    assert glibc.returncode == -6, glibc.stdout + glibc.stderr
    assert "SIGABRT handler: calloc zeroed" in glibc.stdout
    _same_end(glibc, under)


def test_signal_handler_allocating_while_its_thread_is_inside_malloc(compile_c, support):
    """Undefined behaviour that glibc survives in practice: HMM serves the
    handler's calls from its reserve, with no deadlock, no abort and no
    block handed out twice, and counts them."""
    exe = compile_c("signal_alloc_timer.c")
    under = _run([str(exe), "13000"], under_hmm=True, env=support.base_env())
    assert under.returncode == 0, under.stdout + under.stderr[-2000:]
    assert "at least 13000 ticks of a handler that allocates: blocks intact" in under.stdout
    stats = under.stats
    assert stats and stats.get("alloc_calls", 0) > 10000, stats
    # Every tick also asks for more than can be had: refused, and counted.
    assert stats.get("failed_calls", 0) >= 13000, stats
    assert stats.get("reserve_calls", 0) > 0, (
        f"no call of the handler landed inside the allocator: the test proved nothing\n{stats}")
    # glibc may deadlock on this (it is undefined behaviour); where it
    # finishes, it prints the same.
    try:
        glibc = subprocess.run([str(exe), "13000"], env=support.base_env(), capture_output=True,
                               text=True, timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        return
    if glibc.returncode == 0:
        assert glibc.stdout == under.stdout


def test_thread_cancelled_inside_malloc_stats(compile_c, support):
    exe = compile_c("cancel_malloc_stats.c")
    glibc, under = _both([str(exe)], support)
    assert glibc.returncode == 0, glibc.stdout + glibc.stderr
    _same_end(glibc, under)
    support.assert_served(under)


def test_posix_memalign_sets_errno_as_glibc_does(compile_c, support):
    exe = compile_c("posix_memalign_errno.c")
    glibc, under = _both([str(exe)], support)
    assert glibc.returncode == 0, glibc.stdout
    _same_end(glibc, under)
    assert under.stats and under.stats.get("memalign_calls", 0) >= 2, under.stats
    assert under.stats.get("failed_calls", 0) >= 1, under.stats


def _shape(root):
    """malloc_info's document as its element names and attribute names, the
    per-size lines aside (each allocator has its own size classes)."""
    return [(e.tag, tuple(sorted(e.attrib))) for e in root.iter() if e.tag != "size"]


def test_mallinfo2_mallopt_and_malloc_info_tell_the_truth(compile_c, support, tmp_path):
    exe = compile_c("mallinfo_truth.c", "-Wno-deprecated-declarations")
    env = support.base_env()
    glibc = _run([str(exe), str(tmp_path / "glibc.xml")], under_hmm=False, env=env)
    under = _run([str(exe), str(tmp_path / "hmm.xml")], under_hmm=True, env=env)
    assert glibc.returncode == 0, glibc.stdout
    _same_end(glibc, under)
    stats = support.assert_served(under)
    assert stats["memalign_calls"] == 0

    ours = ET.parse(tmp_path / "hmm.xml").getroot()
    theirs = ET.parse(tmp_path / "glibc.xml").getroot()
    assert _shape(ours) == _shape(theirs)
    totals = {t.get("type"): t for t in ours.findall("total")}
    assert totals["mmap"].get("count") == "1", ET.tostring(ours)
    assert int(totals["mmap"].get("size")) >= 10 << 20
    heap = ours.find("heap")
    assert heap.get("nr") == "0"
    current = int(heap.find("system[@type='current']").get("size"))
    assert current > 0
    sizes = heap.find("sizes").findall("size")
    rest = {t.get("type"): t for t in heap.findall("total")}["rest"]
    assert sum(int(s.get("count")) for s in sizes) == int(rest.get("count"))
    assert sum(int(s.get("total")) for s in sizes) == int(rest.get("size"))


def test_mallopt_answers_0_for_what_hmm_ignores(compile_c, support):
    exe = compile_c("mallinfo_truth.c", "-Wno-deprecated-declarations")
    under = _run([str(exe), "ignored"], under_hmm=True, env=support.base_env())
    assert under.returncode == 0
    answers = dict(line.rsplit(" ", 1) for line in under.stdout.splitlines())
    assert answers == {"M_MXFAST": "0", "M_ARENA_MAX": "1", "M_ARENA_TEST": "0",
                       "M_CHECK_ACTION": "0", "unknown": "0"}
    assert under.stats, "HMM wrote no stats: was libhmm.so preloaded?"
