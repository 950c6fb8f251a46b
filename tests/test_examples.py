"""The examples run as their comments say, and show what they claim to."""
import os
import re
import subprocess
import sys
from pathlib import Path

import hmm

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _env(support, hmm_run_bin, **extra):
    """PATH finds this session's hmm-run; PYTHONPATH this session's hmm."""
    pkg_parent = str(Path(hmm.__file__).resolve().parent.parent)
    env = support.base_env(**extra)
    env["PATH"] = f"{hmm_run_bin}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    return env


def _build_line(source):
    """The gcc line given in the example's header comment."""
    for line in source.read_text().splitlines():
        line = line.strip(" *")
        if line.startswith("gcc "):
            return line
    raise AssertionError(f"{source.name} has no build line in its comment")


def test_hmm_direct_builds_with_its_comment_line_and_runs(tmp_path, support, hmm_run_bin, libhmm):
    support.require_program("gcc")
    source = EXAMPLES / "hmm_direct.c"
    line = _build_line(source)
    assert "-o hmm_direct" in line and "hmm-run --print-lib" in line
    exe = tmp_path / "hmm_direct"
    # The line as written, from the top of the source tree; only the output
    # goes to a temporary directory.
    build = subprocess.run(["bash", "-c", line.replace("-o hmm_direct", f"-o '{exe}'")],
                           cwd=support.ROOT, env=_env(support, hmm_run_bin), capture_output=True,
                           text=True, timeout=support.TIMEOUT)
    assert build.returncode == 0, build.stderr

    # No LD_PRELOAD: the program finds libhmm.so through its link and rpath.
    env = support.base_env(HMM_STATS="1")
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env,
                         timeout=support.TIMEOUT)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "HmmAlloc(0) returns NULL" in out
    assert "HmmFree(NULL) returns without doing anything" in out
    assert re.search(r"^a = HmmAlloc\(100\) at \+0$", out, re.M)
    assert "all 16-byte aligned: yes" in out
    assert 'contents "kept across HmmRealloc"' in out
    assert "HmmRealloc(NULL, 64) allocates: yes" in out
    assert "all zero: yes" in out
    assert out.rstrip().endswith("everything freed")
    # The seed API and the program's malloc were served by the linked library.
    stats = support.parse_stats(run.stderr)
    assert stats.get("alloc_calls", 0) >= 4, run.stderr
    assert stats.get("blocks_in_use", -1) >= 0 and stats.get("failed_calls") == 0

    ldd = subprocess.run(["ldd", str(exe)], capture_output=True, text=True, timeout=support.TIMEOUT)
    assert os.path.realpath(libhmm) in {os.path.realpath(p) for p in re.findall(r"(/\S+libhmm\.so)", ldd.stdout)}


def test_watch_heap_prints_the_block_list_at_each_step(support, hmm_run_bin):
    run = subprocess.run([sys.executable, str(EXAMPLES / "watch_heap.py")], capture_output=True,
                         text=True, env=_env(support, hmm_run_bin), timeout=support.TIMEOUT)
    assert run.returncode == 0, run.stderr
    steps = {}
    current = None
    for line in run.stdout.splitlines():
        if line.startswith("== "):
            current = line[3:]
            steps[current] = []
        elif m := re.match(r"^\s+\+(\d+)\s+(\d+) bytes\s+(used|free)$", line):
            steps[current].append((int(m[1]), int(m[2]), m[3]))

    def states(prefix):
        [key] = [k for k in steps if k.startswith(prefix)]
        blocks = steps[key]
        # The blocks tile the heap: each starts where the previous ends.
        for (off, size, _), (next_off, _, _) in zip(blocks, blocks[1:]):
            assert off + size == next_off, (key, blocks)
        return [state for _, _, state in blocks]

    assert states("a = alloc(100)")[0] == "used"
    assert states("b = alloc(200)")[:3] == ["used", "used", "used"]
    assert states("free(b)")[:3] == ["used", "free", "used"]
    assert "used" in states("d = alloc(120)")
    merged = states("free(a), free(d)")
    assert merged[:2] == ["free", "used"], "freed neighbours did not merge"
    assert set(states("free(c)")) == {"free"}
    assert "c still holds b'watched'" in run.stdout
    assert re.search(r"alloc_calls 4$", run.stdout, re.M)
    assert re.search(r"blocks_in_use 0$", run.stdout, re.M)


def test_shell_session_runs_its_commands_under_hmm(support, hmm_run_bin, libhmm):
    support.require_program("bash")
    run = subprocess.run(["bash", str(EXAMPLES / "shell_session.sh")], capture_output=True,
                         text=True, env=_env(support, hmm_run_bin), timeout=support.TIMEOUT,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    preload = re.search(r"^LD_PRELOAD=(\S+)$", out, re.M)
    assert preload and preload[1].split(":")[0] == str(libhmm)
    assert "10000\n9999\n9998\n" in out
    assert "HELLO FROM THE HEAP MEMORY MANAGER" in out
    assert "sorted in a child shell: one three two" in out
    count = int(re.search(r"processes that reported: (\d+)", out)[1])
    reports = re.findall(r"^pid (\d+): (\d+) mallocs, peak (\d+) bytes in use$", out, re.M)
    # ls, seq, sort, head, echo's tr, bash -c and its sort (head may be cut short)
    assert count == len(reports) >= 6, out
    assert len({pid for pid, _, _ in reports}) == len(reports)
    assert all(int(allocs) > 0 and int(peak) > 0 for _, allocs, peak in reports), out
    assert re.search(r"^hmm: pid \d+$", out, re.M) and re.search(r"^hmm: alloc_calls [1-9]", out, re.M)


def test_trace_leaks_names_the_leaking_lines(support, hmm_run_bin):
    """examples/trace_leaks.sh builds a program that forgets 29 of 30
    strdup'ed words and a table of 100 ints, traces it and prints its leaks:
    each leak with its bytes and the line that allocated it."""
    support.require_program("bash")
    run = subprocess.run(["bash", str(EXAMPLES / "trace_leaks.sh")], capture_output=True,
                         text=True, env=_env(support, hmm_run_bin), timeout=support.TIMEOUT,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "the square of 99 is 9801" in out
    table = re.search(r"^400 bytes in 1 block still live at exit, allocated at:\n(.*\n){0,3}"
                      r".*in squares at \S*leaky\.c:16$", out, re.M)
    assert table, out
    # 30 words of 5, 7 or 8 bytes with their NULs; the last is still reachable, but live.
    words = re.search(r"^([\d,]+) bytes in 30 blocks still live at exit, allocated at:\n"
                      r"(.*\n)*?.*in remember at \S*leaky\.c:9$", out, re.M)
    assert words and int(words[1].replace(",", "")) == 10 * (5 + 7 + 8), out


def test_learn_placement_records_replays_and_draws(support, hmm_run_bin, tmp_path):
    """examples/learn_placement.sh: vim recorded, replayed under every
    policy (a table row each), where the bytes went, the heap drawn at its
    peak and over time, the timelines, and the HTML report written."""
    support.require_program("vim")
    run = subprocess.run(["bash", str(EXAMPLES / "learn_placement.sh"), str(tmp_path / "out")],
                         capture_output=True, text=True, env=_env(support, hmm_run_bin),
                         timeout=support.TIMEOUT, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    policies_table = run.stdout.split("where the bytes went")[0]   # the first of the tables
    rows = {line.split()[0]: line.split() for line in policies_table.splitlines()
            if line.split() and line.split()[0] in ("segregated", "first-fit", "next-fit", "best-fit")}
    assert len(rows) == 4, run.stdout
    for row in rows.values():   # peak heap, with mappings, peak in use: a heap of megabytes
        assert int(row[1].replace(",", "")) > 1 << 20 and int(row[3].replace(",", "")) > 1 << 20
    out = tmp_path / "out"
    assert (out / "heap.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "heap-over-time.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (out / "timelines.svg").read_text()
    page = (out / "report.html").read_text()
    assert all(f'id="{section}"' in page for section in ("summary", "policies", "heap-map", "heap-over-time"))
    assert "where the bytes went at the peak" in run.stdout
