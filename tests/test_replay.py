"""Replaying a trace on the simulated heap under each placement policy
(hmm.replay, csrc/replay.c): the program's blocks, in its order, through
the same core."""
import subprocess
import sys

import numpy as np
import pytest

import hmm
from hmm import replay
from hmm.trace import Trace

from trace_writer import TraceWriter


def _holes_trace(path):
    """Twenty blocks of growing size, every other one freed, then requests
    that fit only the bigger holes: a policy that walks a list looks at
    many holes, segregated fit at one."""
    w = TraceWriter()
    w.thread(7)
    address = 0x10000
    blocks = []
    for i in range(20):
        blocks.append(w.malloc(100 + 50 * i, address))
        address += 4096
    for i in range(0, 20, 2):
        w.free(blocks[i])
    for i in range(5):
        w.malloc(900 + 20 * i, address)
        address += 4096
    w.finish()
    w.save(path)
    return path


def test_replay_follows_the_calls_and_keeps_the_heap_whole(tmp_path):
    t = Trace.load(_holes_trace(tmp_path / "holes.trace"))
    asked = [100 + 50 * i for i in range(20)]
    peak = sum(asked) - sum(asked[0::2]) + sum(900 + 20 * i for i in range(5))
    for r in replay.replay_all(t):
        assert r.calls == len(t) and r.failed == 0
        assert r.allocations == 25
        assert r.peak_in_use == max(peak, sum(asked)) and r.peak_heap_size >= r.peak_in_use
        assert r.heap.check() == 0, r.heap.check_report()
        live = [b for b in r.heap.walk() if b.used]
        assert len(live) == 15                      # 10 of the first 20, and 5
        assert r.examined >= 2                      # two requests found a hole big enough
    by = {r.policy: r for r in replay.replay_all(t)}
    assert by["first-fit"].examined > by["segregated"].examined


def test_replay_of_a_real_program(hmm_run_bin, tmp_path, support):
    ls = support.require_program("ls")
    trace = tmp_path / "ls.trace"
    subprocess.run([str(hmm_run_bin / "hmm-run"), "--trace", str(trace), "--trace-depth", "0",
                    ls, "-l", "/usr/bin"], check=True, capture_output=True, timeout=support.TIMEOUT)
    t = Trace.load(trace)
    # Bytes in use after each call, from the trace alone: the replay's peak.
    frees = t.frees
    asked = np.where(t.ret != 0, t.size, 0).astype(np.int64)
    freed = np.where(frees >= 0, asked[np.maximum(frees, 0)], 0)
    in_use = np.cumsum(asked - freed)
    for r in replay.replay_all(t):
        assert r.failed == 0
        assert r.peak_in_use == int(in_use.max()), r.policy
        assert r.heap.check() == 0
        assert r.examined > 0
        assert r.heap.stats()["blocks_in_use"] == int(((t.ret != 0) & (t.freed_by < 0)).sum())


def test_hmm_replay_prints_the_policies_side_by_side(tmp_path):
    path = _holes_trace(tmp_path / "holes.trace")
    run = subprocess.run([sys.executable, "-m", "hmm.command", "replay", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[1].split()[:3] == ["policy", "peak", "heap"]
    assert [line.split()[0] for line in lines[3:]] == list(hmm.POLICIES)
    bad = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--policy", "worst-fit",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown policy" in bad.stderr
