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


def _exact(trace, policy):
    """(blocks compared, blocks at another offset, blocks the process had in
    mappings, calls after which the heap's size differs): the process's
    last program replayed under `policy`, every heap block's offset from
    the heap's first block against the process's, and the heap's size
    after every call against the trace's HEAP records."""
    heap, placed, sizes = replay.blocks_of(trace, policy)
    start = replay.last_program(trace)
    real = trace.ret[start:].astype(np.int64)
    sim = placed[start:].astype(np.int64)
    in_heap = (sim != 0) & (sim < heap.address + heap.size // 2)   # the maps are the top half
    compared = (real != 0) & in_heap
    recorded = trace.heap_sizes()
    resized = int((recorded[start:] != sizes[start:len(trace)]).sum()) if recorded is not None else -1
    if not compared.any():
        return 0, 0, 0, resized
    moved = (real[compared] - real[compared].min()) != (sim[compared] - sim[compared].min())
    return (int(compared.sum()), int(moved.sum()), int(((real != 0) & (sim != 0) & ~in_heap).sum()),
            resized)


EXACT = {
    "ls": (["ls", "-l", "/usr/bin"], {}),
    "vim": (["vim", "-u", "NONE", "-i", "NONE", "-N", "-es", "-c", "%s/a/b/g", "-c", "sort", "-c", "wq",
             "{work}/text.txt"], {"TERM": "dumb"}),
    "git": (["git", "-C", "{work}/repo", "log", "--stat", "--format=%H %s"], {}),
    "python3": (["python3", "-S", "-c", "import json; print(len(json.dumps([{'k%d' % i: [i] * 9} "
                 "for i in range(3000)])))"], {"PYTHONMALLOC": "malloc"}),
    "sqlite3": (["sqlite3", ":memory:", "with recursive c(x) as (select 1 union all select x + 1 "
                 "from c where x < 20000) select count(*), sum(length(printf('%d', x))) from c;"], {}),
    "perl": (["perl", "-e", "my %h; $h{$_} = [$_ x 3] for 1..30000; print scalar(keys %h), qq(\\n)"], {}),
    "bash": (["bash", "-c", "a=(); for i in $(seq 1 3000); do a+=(x$i); done; echo ${#a[@]}"], {}),
    "gcc": (["gcc", "-O2", "-c", "-o", "{work}/x.o", "{work}/x.c"], {}),
}


@pytest.mark.parametrize("program", sorted(EXACT))
def test_replay_puts_every_heap_block_where_the_process_had_it(hmm_run_bin, tmp_path, support,
                                                               program):
    """A program recorded with the thread caches off and replayed under the
    policy it ran with: every block of the heap at the offset it had, in
    every process of the run (gcc's cc1 and as too: each from its exec)."""
    argv, env = EXACT[program]
    support.require_program(argv[0])
    work = tmp_path / "work"
    work.mkdir()
    (work / "text.txt").write_text("".join(f"line {i * 7919 % 3000} a b a\n" for i in range(3000)))
    (work / "x.c").write_text("".join(f"int f{i}(int a) {{ return a * {i} + (a > {i} ? f{max(i - 1, 0)}(a - 1) : 0); }}\n"
                                      for i in range(200)))
    if program == "git":
        repo = work / "repo"
        repo.mkdir()
        genv = support.base_env(GIT_AUTHOR_NAME="A", GIT_AUTHOR_EMAIL="a@b", GIT_COMMITTER_NAME="A",
                                GIT_COMMITTER_EMAIL="a@b")
        for n in range(3):
            (repo / f"f{n}.txt").write_text("x\n" * (n + 1) * 50)
            subprocess.run(["git", "init", "-q"] if n == 0 else ["true"], cwd=repo, env=genv, check=True)
            subprocess.run(["git", "add", "."], cwd=repo, env=genv, check=True)
            subprocess.run(["git", "commit", "-q", "-m", f"c{n}"], cwd=repo, env=genv, check=True)
    argv = [a.replace("{work}", str(work)) for a in argv]
    trace = tmp_path / "run.trace"
    run = subprocess.run([str(hmm_run_bin / "hmm-run"), "--trace", str(trace), "--trace-depth", "0",
                          "--", *argv], env=support.base_env(HMM_TCACHE="0", LC_ALL="C", **env),
                         capture_output=True, timeout=support.TIMEOUT, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-2000:]
    total = 0
    for path in sorted(tmp_path.glob("run.trace*")):
        t = Trace.load(path)
        if t.ppid and not t.execs and path.name != "run.trace":
            continue   # a child that did not exec: its heap began as its parent's copy
        compared, moved, mapped, resized = _exact(t, "segregated")
        assert moved == 0, f"{path.name}: {moved} of {compared} blocks at another offset"
        assert resized == 0, f"{path.name}: the heap's size differs after {resized} calls"
        total += compared
    assert total >= 100, total


def test_replay_under_first_fit_of_a_run_under_first_fit(hmm_run_bin, tmp_path, support):
    ls = support.require_program("ls")
    trace = tmp_path / "ls.trace"
    subprocess.run([str(hmm_run_bin / "hmm-run"), "--trace", str(trace), "--trace-depth", "0", ls,
                    "-lR", "/usr/lib/python3"], check=True, capture_output=True,
                   env=support.base_env(HMM_TCACHE="0", HMM_POLICY="first-fit"), timeout=support.TIMEOUT)
    compared, moved, _, resized = _exact(Trace.load(trace), "first-fit")
    assert compared > 1000 and moved == 0 and resized == 0
    compared, moved, _, resized = _exact(Trace.load(trace), "segregated")
    assert moved > 0   # another policy places them elsewhere: the comparison can fail


def test_hmm_replay_draws_the_heap_at_its_peak(tmp_path):
    path = _holes_trace(tmp_path / "holes.trace")
    picture = tmp_path / "heap.png"
    run = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--picture", str(picture),
                          str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    # Four panels: the image is about four times as wide as high.
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 3 * height


def _python_trace(hmm_run_bin, support, tmp_path, code):
    """python3 running `code` with its allocator on malloc, recorded."""
    python = support.require_program("python3")
    trace = tmp_path / "py.trace"
    subprocess.run([str(hmm_run_bin / "hmm-run"), "--trace", str(trace), "--trace-depth", "0",
                    python, "-S", "-c", code],
                   check=True, capture_output=True, env=support.base_env(PYTHONMALLOC="malloc"),
                   timeout=support.TIMEOUT)
    return Trace.load(trace)


def test_where_the_bytes_went_adds_up_to_the_footprint(hmm_run_bin, tmp_path, support):
    """At the peak, the bytes asked for, rounding and headers, free holes,
    the top, mappings and bookkeeping add up to heap size plus mapped
    bytes, to the byte; and what was asked is what the trace says was live."""
    t = _python_trace(hmm_run_bin, support, tmp_path,
                      "x = [bytes(300000)] + ['a' * i for i in range(5000)]")
    for r in replay.replay_all(t):
        parts = r.where_the_bytes_went(t)
        assert sum(parts.values()) == r.peak_heap_size_at_peak + r.peak_mapped
        assert parts["mapped"] >= 300000    # the big bytes object has a mapping of its own
        assert parts["asked"] <= r.peak_in_use and parts["rounding_and_headers"] > 0
        assert r.peak_heap_size_at_peak + r.peak_mapped == r.peak_footprint
    run = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--where", str(t.path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "where the bytes went at the peak" in run.stdout


def test_a_replayed_heap_to_look_around_in(hmm_run_bin, tmp_path, compile_c):
    """trace.replay(policy): forward and back to any call (the same heap
    either way), the peak, the blocks with the calls that placed them, and
    explain() naming the call and the program's line behind a block."""
    exe = compile_c("trace_leaks.c")
    trace = tmp_path / "leaks.trace"
    subprocess.run([str(hmm_run_bin / "hmm-run"), "--trace", str(trace), str(exe)], check=True,
                   capture_output=True, timeout=120)
    t = Trace.load(trace)
    r = t.replay("best-fit")
    middle = len(t) // 2
    forward = r.goto(middle).blocks()
    r.goto(len(t))
    assert r.step(-(len(t) - middle)).position == middle
    assert r.blocks() == forward
    r.goto(len(t))
    names = {b[3]: b for b in r.blocks() if b[2]}
    leak = next(call for call in names
                if t.tag_name(t.tag[call]) == "calloc" and int(t.size[call]) == 1536)
    text = r.explain(names[leak][0] + 100)
    assert f"call {leak:,}, calloc(1,536)" in text and "leak_table" in text, text
    assert "free block" in r.explain(next(b[0] for b in r.blocks() if not b[2]))
    # A free block says which call's block was there last, and which call freed it.
    freed = next(call for call in range(len(t)) if 0 <= t.freed_by[call] < middle
                 and t.tag_name(t.tag[t.freed_by[call]]) == "free")
    r.goto(int(t.freed_by[freed]) + 1)
    text = r.explain(int(r._placed[freed]))
    assert "free block" in text and f"call {int(t.freed_by[freed]):,}, free, freed it" in text, text
    peak = r.peak().position
    assert peak == r.figures().peak_footprint_call + 1
    figure = r.picture(tmp_path / "now.png")
    assert (tmp_path / "now.png").read_bytes()[:4] == b"\x89PNG" and figure is not None


@pytest.mark.parametrize("policy", ["segregated", "first-fit", "next-fit"])
def test_checkpoints_give_back_the_heap_a_replay_from_the_start_gives(hmm_run_bin, tmp_path,
                                                                     support, monkeypatch, policy):
    """Seeks through checkpoints (one after every few milliseconds of
    replaying here, so that there are dozens): at every call visited, back
    and forth, the same blocks at the same offsets, the same stats and the
    same figures as a replay of the calls from the start; next fit's rover
    included, and first and next fit's list index, which a stretch of calls
    takes over from the one before only if the list is as it left it."""
    monkeypatch.setattr(replay, "CHECKPOINT_SECONDS", 0.002)
    monkeypatch.setattr(replay, "CHECKPOINT_SHARE", 1e9)    # however long saving takes
    monkeypatch.setattr(replay, "CHUNK_MOST", 2048)
    t = _python_trace(hmm_run_bin, support, tmp_path, "import json\nfor i in range(300): "
                      "x = json.dumps([{'k': [j] * (i % 40)} for j in range(i)])")
    r = t.replay(policy)
    r.goto(len(t))
    assert len(r._checkpoints) >= 10

    def seen(heap):
        stats = {k: v for k, v in heap.heap.stats().items() if k not in ("heap_start", "heap_end", "heap_break")}
        return (_from_start(heap),
                stats, bytes(_load_result(heap)))

    rng = np.random.default_rng(5)
    for target in rng.integers(0, len(t), 12).tolist():
        r.goto(target)
        fresh = t.replay(policy, first_pass=False).goto(target)   # from the start
        assert seen(r) == seen(fresh), target
        assert r.heap.check() == 0


def _from_start(replayed):
    """A replayed heap's blocks, their addresses from the heap's start: two
    heaps' buffers may be aligned differently, and the heap's start with
    them."""
    start = replayed.heap.stats()["heap_start"]
    return [(a - start, size, used, call) for a, size, used, call in replayed.blocks()]


def _load_result(heap):
    from hmm.heap import _load_core
    return _load_core().ffi.buffer(heap._result)


@pytest.mark.parametrize("policy", hmm.POLICIES)
def test_explain_lists_the_free_blocks_the_policy_looked_at(tmp_path, policy):
    """For every allocation, the free blocks the policy looked at: they add
    up to its examined_blocks, first fit chooses the first big enough, best
    fit the smallest, and the replayed heap is where it was afterwards."""
    t = Trace.load(_holes_trace(tmp_path / "holes.trace"))
    r = t.replay(policy).goto(len(t))
    before = r.blocks()
    total = 0
    for call in range(len(t)):
        looked, count = r.looked_at(call)
        assert len(looked) == count
        total += count
        if not t.tag_name(t.tag[call]) == "malloc" or not looked:
            continue
        placed = int(r._placed[call])
        chosen = [i for i, (p, size) in enumerate(looked) if p <= placed < p + size]
        need = next(b[1] for b in r.goto(call + 1).blocks() if b[0] == placed)
        fits = [i for i, (p, size) in enumerate(looked) if size >= need]
        assert bool(chosen) == bool(fits)   # none fits: the top serves it
        if policy in ("first-fit", "next-fit") and fits:
            assert chosen == fits[:1] == [len(looked) - 1]   # the first that fits ends the walk
        if policy == "best-fit" and fits:
            assert looked[chosen[0]][1] == min(looked[i][1] for i in fits)
    assert total == r.heap.stats()["examined_blocks"] > 0
    assert r.goto(len(t)).blocks() == before
    address = next(b[0] for b in before if b[2] and b[3] >= 30)   # one of the last mallocs
    assert f"{policy} looked at" in r.explain(address)


def test_foreign_traces_replay_too(tmp_path, compile_c, support):
    """glibc's mtrace log of a real run, and a CS:APP malloc-lab .rep trace:
    hmm replay reads both and replays them under every policy."""
    exe = compile_c("mtrace_calls.c")
    log = tmp_path / "calls.mtrace"
    # glibc 2.34 and later keep mtrace in libc_malloc_debug.so, preloaded.
    subprocess.run([str(exe)], check=True, timeout=60,
                   env=support.base_env(MALLOC_TRACE=str(log), LD_PRELOAD="libc_malloc_debug.so.0"))
    from hmm.trace_import import load_any
    t = load_any(log)
    names = [t.tag_name(tag) for tag in t.tag]
    assert names.count("malloc") == 40 and names.count("free") == 20 and names.count("realloc") == 3
    asked = sum(24 + 8 * i for i in range(40))
    live_at_end = asked - sum(24 + 8 * i for i in range(0, 40, 2)) \
        - sum(24 + 8 * i for i in (1, 3, 5)) + sum(1000 + i for i in (1, 3, 5))
    for r in replay.replay_all(t):
        assert r.failed == 0 and r.heap.check() == 0
        assert r.peak_in_use >= live_at_end
        assert sum(1 for b in r.heap.walk() if b.used) == 20

    rep = tmp_path / "short.rep"
    rep.write_text("20000\n3\n6\n1\na 0 100\na 1 200\nf 0\nr 1 500\na 2 50\nf 2\n")
    run = subprocess.run([sys.executable, "-m", "hmm.command", "replay", str(rep)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "6 calls" in run.stdout and "segregated" in run.stdout
    bad = tmp_path / "bad.mtrace"
    bad.write_text("= Start\n@ ./x:[0x1] ? 0x10\n")
    run = subprocess.run([sys.executable, "-m", "hmm.command", "replay", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "line 2: not an mtrace line" in run.stderr


def _two_blocks_trace(path):
    """Block A (64 KiB) and block B (64 KiB), then 4,000 small pairs; A is
    freed half-way, B lives to the end."""
    w = TraceWriter()
    w.thread(7)
    w.malloc(65536, 0x100000)          # call 0: A
    w.malloc(65536, 0x200000)          # call 1: B
    for i in range(4000):
        if i == 2000:
            w.free(0x100000)           # A freed half-way
        w.malloc(16, 0x300000)
        w.free(0x300000)
    w.finish()
    w.save(path)
    return path


def test_the_heap_over_time_shows_which_bytes_were_in_use_when(tmp_path):
    from hmm import heap_pictures
    t = Trace.load(_two_blocks_trace(tmp_path / "two.trace"))
    r = replay.replay(t, "segregated", history=True)
    again = replay.replay(t, "segregated")
    assert again.history is None and (heap_pictures._histories(t, [again])[0].image == r.history.image).all()
    history = r.history
    span = history.span
    image = history.image
    rows, columns = image.shape
    assert span == r.peak_heap_size
    start = r.heap.stats()["heap_start"]
    a = int(replay.blocks_of(t)[1][0]) - start      # A's offset in the heap
    a_rows = slice(a * rows // span + 1, (a + 65536) * rows // span - 1)   # rows all A's
    early, late = columns // 4, columns * 3 // 4
    assert (image[a_rows, early] > 0.95).all()       # A in use ...
    assert (image[a_rows, late] == 0).all()          # ... then free (light, not past the break)
    top = -(-int(history.size_bytes.max()) * rows // span)
    assert (image[top:, :] == heap_pictures.PAST).all()   # nothing past the break
    assert int(history.size_bytes.max()) == r.peak_heap_size


def test_hmm_replay_draws_the_heap_over_time_and_the_timelines(tmp_path):
    path = _two_blocks_trace(tmp_path / "two.trace")
    over, lines = tmp_path / "over.png", tmp_path / "lines.svg"
    run = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--over-time", str(over),
                          "--timelines", str(lines), str(path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert over.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = lines.read_text()
    assert "<svg" in svg and all(f"heap, {p}" in svg for p in hmm.POLICIES)
    bad = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--over-time",
                          str(tmp_path / "no" / "such" / "dir.png"), str(path)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "cannot write" in bad.stderr


def _holes_then_big(tmp_path):
    """The holes trace, then a block bigger than all it freed: the peak
    is at its end, with the holes still open."""
    w = TraceWriter()
    w.thread(7)
    blocks = [w.malloc(100 + 50 * i, 0x10000 + 4096 * i) for i in range(20)]
    for i in range(0, 20, 2):
        w.free(blocks[i])
    w.malloc(8000, 0x90000)
    w.finish()
    path = tmp_path / "holes-then-big.trace"
    w.save(path)
    return path


def test_where_counts_the_free_blocks_at_the_peak_by_size(tmp_path):
    path = _holes_then_big(tmp_path)
    run = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--where", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    text = run.stdout[run.stdout.index("free blocks at the peak, by size"):].splitlines()
    head = text[1].split()
    t = Trace.load(path)
    for r in replay.replay_all(t):
        row = next(line.split() for line in text[3:] if line.split()[0] == r.policy)
        counts = dict(zip(head[1:], (int(c.replace(",", "")) for c in row[1:])))
        assert sum(counts.values()) == len(r.free_at_peak) > 1
        smallest = 1 << (min(r.free_at_peak).bit_length() - 1)
        assert counts[replay._bytes_text(smallest)] >= 1


def test_the_heap_at_its_peak_coloured_by_age(tmp_path):
    from hmm import heap_pictures
    t = Trace.load(_holes_trace(tmp_path / "holes.trace"))
    r = replay.replay(t, "first-fit")
    figure = heap_pictures.heap_at_peak(t, [r], colour="age")
    image = figure.axes[0].images[0].get_array()
    # The blocks in use at the peak get as many shades as the stretch of
    # calls they were placed in spans; free ones the free grey (1).
    header = image.max()   # the last colour: headers, drawn at 16 bytes a pixel
    assert (image == header).sum() == len(r.peak_blocks)   # one pixel each (blocks >= 100 bytes)
    shades = set(np.unique(image).tolist()) - {0, 1, header}
    assert len(shades) >= 4 and 1 in np.unique(image)
    with pytest.raises(ValueError, match="colour"):
        heap_pictures.heap_at_peak(t, [r], colour="size")
    bad = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--picture",
                          str(tmp_path / "x.png"), "--colour", "size", str(tmp_path / "holes.trace")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--colour" in bad.stderr


def test_the_timelines_show_a_peak_at_the_very_end(tmp_path):
    from hmm import heap_pictures
    t = Trace.load(_holes_then_big(tmp_path))
    replays = replay.replay_all(t, history=True)
    figure = heap_pictures.timelines(t, replays)
    ax = figure.axes[0]
    filled = max(path.vertices[:, 1].max() for path in ax.collections[0].get_paths())
    assert filled * 2**20 == pytest.approx(replays[0].peak_in_use)
    assert replays[0].peak_in_use_call == len(t) - 1   # the last call
    for line, r in zip(ax.get_lines(), replays):
        assert line.get_ydata().max() * 2**20 == pytest.approx(r.peak_heap_size)
        assert line.get_xdata()[-1] == len(t)


def test_where_the_bytes_went_at_any_call(tmp_path):
    """ReplayedHeap.where_the_bytes_went() after any call adds up to the
    heap and its mappings then, and what was asked is what the trace says
    was live then; `hmm replay --where --at CALL` prints it."""
    path = _holes_then_big(tmp_path)
    t = Trace.load(path)
    live = np.cumsum([int(t.size[i]) if t.tag_name(t.tag[i]) == "malloc" else
                      -int(t.size[int(t.frees[i])]) for i in range(len(t))])
    for policy in hmm.POLICIES:
        r = t.replay(policy)
        for call in (5, 20, 25, len(t)):
            parts = r.goto(call).where_the_bytes_went()
            stats = r.heap.stats()
            assert sum(parts.values()) == stats["heap_size"] + stats["mapped_bytes"]
            assert parts["asked"] == live[call - 1]
    run = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--where", "--at", "25",
                          "--picture", str(tmp_path / "at.png"), str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "where the bytes went after call 25:" in run.stdout
    segregated = next(line for line in run.stdout.split("after call 25:")[1].splitlines()
                      if line.startswith("segregated"))
    assert f"{int(live[24]):,} (" in segregated
    bad = subprocess.run([sys.executable, "-m", "hmm.command", "replay", "--at", "999", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--at 999" in bad.stderr


def test_pictures_change_nothing_global_and_show_inline_in_ipython(tmp_path, monkeypatch):
    """The pictures are Figures of their own: no pyplot figure is left
    open however many are drawn, and the backend is not switched (a
    notebook keeps its own).  In a running IPython, figures get its PNG
    formatter, so r.picture() shows inline in Jupyter."""
    import types

    import matplotlib
    from matplotlib.figure import Figure

    from hmm import heap_pictures

    class Formatter:
        def __init__(self):
            self.type_printers = {}

        def for_type(self, kind, printer):
            self.type_printers[kind] = printer

    png = Formatter()
    shell = types.SimpleNamespace(display_formatter=types.SimpleNamespace(formatters={"image/png": png}))
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell,
                                                                  version_info=(8, 30)))
    def backend():   # as set, not resolved (resolving it would import pyplot)
        return dict.__getitem__(matplotlib.rcParams, "backend")

    before = backend()
    t = Trace.load(_holes_trace(tmp_path / "holes.trace"))
    r = t.replay("best-fit").goto(len(t))
    for _ in range(25):
        figure = r.picture()
    assert isinstance(figure, Figure) and backend() == before
    assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()
    assert png.type_printers[Figure](figure)[:8] == b"\x89PNG\r\n\x1a\n"


def _churn_trace(path, calls, seed):
    """A program that keeps about a thousand blocks of mixed sizes live,
    freeing and reallocating at random: a long free list, emptied and
    refilled many times over (the list index compacts and grows)."""
    rng = np.random.default_rng(seed)
    w = TraceWriter()
    w.thread(7)
    live, address = [], 0x10000
    for i in range(calls):
        if live and (rng.random() < 0.45 or len(live) > 1500):
            w.free(live.pop(int(rng.integers(len(live)))))
            continue
        size = int(rng.choice([24, 40, 72, 200, 1000, 5000])) if rng.random() < 0.6 \
            else int(rng.integers(1, 3000))
        if live and rng.random() < 0.1:
            old = live.pop(int(rng.integers(len(live))))
            live.append(w.realloc(old, size, address))
        else:
            live.append(w.malloc(size, address))
        address += 8192
    w.finish()
    w.save(path)
    return path


def _replayed(trace, policy, walk=False, check=0):
    """(placements, examined blocks, heap) of one hmm_replay run; `walk`:
    watching which blocks are looked at, so that first and next fit walk
    their list instead of asking its index."""
    from hmm.heap import Heap, _load_core
    core = _load_core()
    ffi, lib = core.ffi, core.lib
    calls, arrays = replay._columns(trace)
    heap = Heap(64 << 20, policy=policy, maps=32 << 20, check=check, check_every=1)
    seen = ffi.new("uint64_t[2]")
    if walk:
        lib.hmm_replay_watch(heap._heap, seen, 1)
    block = np.zeros(len(trace), dtype=np.uint64)
    placed = np.zeros(len(trace), dtype=np.uint64)
    result = ffi.new("hmm_replay_result *")
    lib.hmm_replay(heap._heap, calls, 0, len(trace), replay._pointer(ffi, block),
                   replay._pointer(ffi, placed), ffi.NULL, result)
    heap._raise_fault()
    base = int(placed[placed != 0].min())
    return np.where(placed != 0, placed - base, 0), heap.stats()["examined_blocks"], heap


@pytest.mark.parametrize("policy", ["first-fit", "next-fit"])
def test_the_list_index_chooses_what_the_walk_chooses(tmp_path, policy):
    """A replay asks first and next fit's choices of an index of their list
    (csrc/list_index.c) instead of walking it: every block lands where the
    walk puts it, and the blocks the walk would have looked at are counted
    to the block.  The walk is what a process runs, and what a replay runs
    while it watches."""
    t = Trace.load(_churn_trace(tmp_path / "churn.trace", 60_000, seed=11))
    indexed, examined, heap = _replayed(t, policy)
    walked, walk_examined, _ = _replayed(t, policy, walk=True)
    assert heap.check() == 0, heap.check_report()
    assert examined > 200_000              # long walks: the index had work to do
    assert examined == walk_examined
    assert np.array_equal(indexed, walked)


@pytest.mark.parametrize("policy", ["first-fit", "next-fit"])
def test_the_list_index_agrees_with_the_list_after_every_call(tmp_path, policy):
    """Check mode checks the heap after every call of the replay, and the
    check counts the index's disagreements with the list (its slots in the
    list's order, sizes, counts, maxima) as broken invariants."""
    t = Trace.load(_churn_trace(tmp_path / "churn.trace", 4_000, seed=12))
    _, examined, heap = _replayed(t, policy, check=2)   # a broken invariant raises HeapError
    assert examined > 0 and heap.check() == 0


def test_policies_replayed_side_by_side_give_what_one_at_a_time_gives(tmp_path):
    """replay_all runs the policies on threads (two cores replay two at
    once): the same figures, heaps and order as one after the other."""
    t = Trace.load(_churn_trace(tmp_path / "churn.trace", 20_000, seed=13))
    alone = replay.replay_all(t, workers=1, history=True)
    together = replay.replay_all(t, workers=4, history=True)
    assert [r.policy for r in together] == list(hmm.POLICIES)
    for a, b in zip(alone, together):
        assert (a.policy, a.peak_heap_size, a.peak_in_use, a.examined, a.peak_footprint_call) == \
               (b.policy, b.peak_heap_size, b.peak_in_use, b.examined, b.peak_footprint_call)
        assert a.free_at_peak == b.free_at_peak
        assert np.array_equal(a.history.image, b.history.image)
        assert b.heap.check() == 0, b.heap.check_report()


def test_trace_replay_makes_its_first_pass_up_front(tmp_path, monkeypatch):
    """trace.replay() replays every call once, saving checkpoints along the
    way, and leaves the heap before the first call: every seek after it
    replays from a checkpoint, not from the start."""
    monkeypatch.setattr(replay, "CHECKPOINT_SECONDS", 0.0)    # one after every stretch
    monkeypatch.setattr(replay, "CHECKPOINT_SHARE", 1e9)
    t = Trace.load(_churn_trace(tmp_path / "churn.trace", 20_000, seed=14))
    r = t.replay("next-fit")
    assert r.position == 0 and not [b for b in r.blocks() if b[2]]
    assert len(r._checkpoints) >= 3 and max(r._checkpoints) <= len(t)
    lazy = t.replay("next-fit", first_pass=False)
    assert lazy.position == 0 and not lazy._checkpoints
    assert _from_start(r.goto(15_000)) == _from_start(lazy.goto(15_000))
