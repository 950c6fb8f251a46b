"""Tracing real programs: hmm-run --trace, read back with hmm.Trace.

Each program runs once under glibc and once traced (libhmm-trace.so, the
same allocator recording every call).  A test checks that the program's
output is the same, and that the trace tells the truth: its call counts are
the counts HMM's own stats give for the run, every pointer freed was
returned by an earlier call, and the blocks it shows live at exit are as
many as the stats' blocks in use.  A trace that only looked plausible would
fail the last two.
"""
import collections
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pexpect
import pytest

import hmm
from hmm.trace import Trace, tag_names

TIMEOUT = 180

# What each of HMM's stats counts, as trace functions.
STATS_OF = {
    "alloc_calls": ("malloc", "HmmAlloc"),
    "calloc_calls": ("calloc", "HmmCalloc"),
    "realloc_calls": ("realloc", "reallocarray", "HmmRealloc"),
    "memalign_calls": ("memalign", "posix_memalign", "aligned_alloc", "valloc", "pvalloc"),
}
FREES = ("free", "HmmFree", "free_sized", "free_aligned_sized")


def _hmm_run(hmm_run_bin):
    return str(hmm_run_bin / "hmm-run")


def traced(hmm_run_bin, tmp_path, argv, *, depth=None, env=None, name="run", **kw):
    """Run argv under hmm-run --trace, with the stats of every process of
    the run in files.  Returns (completed process, trace path, stats by pid)."""
    trace = tmp_path / f"{name}.trace"
    stats_dir = tmp_path / f"{name}-stats"
    stats_dir.mkdir()
    cmd = [_hmm_run(hmm_run_bin), "--trace", str(trace), "--stats-file",
           str(stats_dir / "%p.txt")]
    if depth is not None:
        cmd += ["--trace-depth", str(depth)]
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", TIMEOUT)
    proc = subprocess.run(cmd + ["--"] + list(argv), env=env, **kw)
    stats = {}
    for path in stats_dir.glob("*.txt"):
        text = path.read_text()
        parsed = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "hmm:" and parts[2].isdigit():
                parsed[parts[1]] = int(parts[2])
        stats[parsed["pid"]] = parsed
    return proc, trace, stats


def calls_of(t, *names, upto=None):
    """How many calls of these functions the trace holds (before call `upto`)."""
    wanted = [tag for tag, name in tag_names().items() if name in names]
    tags = t.tag[:upto] if upto is not None else t.tag
    return int(np.isin(tags, wanted).sum())


def image_calls(t):
    """The range of calls of the process's last program (after its last exec)."""
    start = t.execs[-1].call if t.execs else 0
    return start, finish_call(t)


def finish_call(t):
    """The calls before the program's exit began (when the stats were
    written): the trace goes on recording a few of libc's after it."""
    return t.finish_call if t.finish_call is not None else len(t)


def check_trace(t, stats=None, *, inherited_ok=False):
    """The trace is whole and tells the truth; with `stats` (HMM's for the
    same process, written when its exit began), its counts are those.  A
    process that ends with _exit (as dash does) has neither stats nor the
    trace's FINISH record."""
    assert t.error is None, t.error
    # Every call is a thread's, the first ones too (those before the
    # library's constructor, kept until the file opened).
    assert (t.thread != 0).all(), f"{int((t.thread == 0).sum())} calls of no thread"
    if stats is not None:
        assert t.finished, "no FINISH record: the program's exit was not recorded"
    names = tag_names()
    frees = np.isin(t.tag, [tag for tag, n in names.items() if n in FREES])
    real_frees = frees & (t.ptr != 0)
    unknown = real_frees & (t.frees < 0)
    if not inherited_ok:
        # Every pointer freed was returned before (in this program image).
        start = t.execs[-1].call if t.execs else 0
        bad = np.flatnonzero(unknown[start:])
        assert bad.size == 0, (f"{bad.size} frees of pointers never returned, first at call "
                               f"{start + bad[0]}: ptr 0x{int(t.ptr[start + bad[0]]):x}")
    if stats is None:
        return
    start, end = image_calls(t)
    for stat, functions in STATS_OF.items():
        got = calls_of(t, *functions, upto=end) - calls_of(t, *functions, upto=start)
        assert got == stats[stat], f"{stat}: {got} in the trace, {stats[stat]} in HMM's stats"
    got_frees = int(real_frees[start:end].sum())
    assert got_frees == stats["free_calls"], (got_frees, stats["free_calls"])
    # Blocks the trace shows live when the exit began: HMM's blocks in use.
    made = np.zeros(len(t), dtype=bool)
    made[start:end] = (t.ret[start:end] != 0) & ~frees[start:end]
    freed_by = t.freed_by
    live = made & ((freed_by < 0) | (freed_by >= end))
    assert int(live.sum()) == stats["blocks_in_use"], (int(live.sum()), stats["blocks_in_use"])


def test_ls_traced_same_output_true_counts(hmm_run_bin, tmp_path, support):
    ls = support.require_program("ls")
    env = support.base_env(LC_ALL="C")
    glibc = subprocess.run([ls, "-l", "/usr/bin"], env=env, capture_output=True, timeout=TIMEOUT)
    proc, trace, stats = traced(hmm_run_bin, tmp_path, [ls, "-l", "/usr/bin"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == glibc.stdout
    t = Trace.load(trace)
    assert t.pid in stats
    check_trace(t, stats[t.pid])
    assert stats[t.pid]["alloc_calls"] > 1000
    assert t.depth == 32 and len(t.stacks) > 10
    # At most 16 bytes a call, stacks and libraries included.
    assert trace.stat().st_size / len(t) <= 16, trace.stat().st_size / len(t)


def test_tracing_changes_nothing_in_the_heap(hmm_run_bin, tmp_path, support, libhmm):
    """The tracer's memory never comes from the heap: the stats of a run are
    the same traced and untraced."""
    ls = support.require_program("ls")
    env = support.base_env(LC_ALL="C")
    plain = hmm.run([ls, "-l", "/usr/bin"], env=env, capture_output=True, stats=True,
                    timeout=TIMEOUT)
    proc, trace, stats = traced(hmm_run_bin, tmp_path, [ls, "-l", "/usr/bin"], env=env)
    traced_stats = stats[Trace.load(trace).pid]
    for key in ("alloc_calls", "free_calls", "realloc_calls", "calloc_calls", "blocks_in_use",
                "bytes_in_use", "peak_bytes_in_use", "heap_size"):
        assert traced_stats[key] == plain.stats[key], key


def test_vim_script_traced(hmm_run_bin, tmp_path, support):
    vim = support.require_program("vim")
    text = "\n".join(f"line {i} foo {i * 7 % 100}" for i in range(3000)) + "\n"
    script = ["%s/foo/bar/g", "g/^line 1/d", "sort n /\\d\\+$/", "wq"]
    outputs = {}
    for who in ("glibc", "traced"):
        work = tmp_path / who
        work.mkdir()
        (work / "notes.txt").write_text(text)
        argv = [vim, "-u", "NONE", "-i", "NONE", "-N", "-es"]
        for command in script:
            argv += ["-c", command]
        argv.append("notes.txt")
        env = support.base_env(TERM="dumb")
        if who == "glibc":
            proc = subprocess.run(argv, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=TIMEOUT)
        else:
            proc, trace, stats = traced(hmm_run_bin, tmp_path, argv, cwd=work, env=env,
                                        stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        outputs[who] = (work / "notes.txt").read_text()
    assert outputs["traced"] == outputs["glibc"]
    t = Trace.load(trace)
    check_trace(t, stats[t.pid])
    assert stats[t.pid]["alloc_calls"] > 1000


def test_vim_in_a_terminal_traced(hmm_run_bin, tmp_path, support):
    vim = support.require_program("vim")
    trace = tmp_path / "vim.trace"
    env = support.base_env(TERM="xterm")
    child = pexpect.spawn(_hmm_run(hmm_run_bin),
                          ["--trace", str(trace), vim, "-u", "NONE", "-i", "NONE", "-N",
                           "typed.txt"], cwd=str(tmp_path), env=env, timeout=60)
    try:
        child.expect("typed.txt")
        child.send("ihello from a traced vim\x1b")
        child.send("yy5p")
        child.send(":wq\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert (tmp_path / "typed.txt").read_text() == "hello from a traced vim\n" * 6
    t = Trace.load(trace)
    check_trace(t)
    assert calls_of(t, "malloc") > 1000


def test_git_traced(hmm_run_bin, tmp_path, support):
    """git runs helpers of its own: each process writes its own trace."""
    git = support.require_program("git")
    results = {}
    for who in ("glibc", "traced"):
        repo = tmp_path / f"repo-{who}"
        repo.mkdir()
        for i in range(30):
            (repo / f"file{i}.txt").write_text(f"content {i}\n" * (i + 1))
        env = support.base_env(GIT_AUTHOR_NAME="A", GIT_AUTHOR_EMAIL="a@example.com",
                               GIT_COMMITTER_NAME="A", GIT_COMMITTER_EMAIL="a@example.com",
                               GIT_AUTHOR_DATE="2020-01-01T00:00:00Z",
                               GIT_COMMITTER_DATE="2020-01-01T00:00:00Z", HOME=str(tmp_path))
        script = (f"{git} init -q . && {git} add . && {git} commit -q -m first && "
                  f"{git} log --stat --format=%H")
        argv = ["/bin/sh", "-c", script]
        if who == "glibc":
            proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, timeout=TIMEOUT)
        else:
            proc, trace, stats = traced(hmm_run_bin, tmp_path, argv, cwd=repo, env=env)
        assert proc.returncode == 0, proc.stderr
        results[who] = proc.stdout
    assert results["traced"] == results["glibc"]
    files = sorted(tmp_path.glob("run.trace*"))
    assert len(files) >= 4, files   # sh, and a process for each git command
    seen_git = 0
    for path in files:
        t = Trace.load(path)
        # sh (dash) ends with _exit: no stats; every git process writes its own.
        check_trace(t, stats.get(t.pid), inherited_ok=path.name != "run.trace")
        if any(os.path.basename(m.path) == "git" for m in t.modules):
            seen_git += 1
            assert t.pid in stats and t.finished
    assert seen_git >= 3


PYTHON_THREADS = textwrap.dedent("""
    import json, threading
    def work(n):
        data = [{"k%d" % i: [i] * (i % 7) for i in range(200)} for _ in range(n)]
        return len(json.dumps(data))
    results = []
    threads = [threading.Thread(target=lambda n=n: results.append(work(n))) for n in (20, 30, 40, 50)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(sorted(results))
""")


def test_python_threads_traced(hmm_run_bin, tmp_path, support):
    python = support.require_program("python3")
    env = support.base_env(PYTHONMALLOC="malloc")
    argv = [python, "-S", "-c", PYTHON_THREADS]
    glibc = subprocess.run(argv, env=env, capture_output=True, timeout=TIMEOUT)
    proc, trace, stats = traced(hmm_run_bin, tmp_path, argv, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == glibc.stdout
    t = Trace.load(trace)
    check_trace(t, stats[t.pid])   # (python3 may be a wrapper that execs the real one)
    start = t.execs[-1].call if t.execs else 0
    counts = collections.Counter(t.thread[start:].tolist())
    assert len(counts) >= 5, counts   # the main thread and four workers
    assert sum(1 for n in counts.values() if n > 1000) >= 4, counts


def test_fork_and_exec_traced(hmm_run_bin, tmp_path, support):
    """A child after fork writes a trace of its own; a program exec'ed goes
    on in its process's trace, after an EXEC record."""
    sort = support.require_program("sort")
    data = tmp_path / "words.txt"
    data.write_text("\n".join(f"w{(i * 7919) % 5000}" for i in range(5000)) + "\n")
    script = f"ls / > /dev/null; exec {sort} {data}"
    argv = ["/bin/bash", "-c", script]
    env = support.base_env(LC_ALL="C")
    glibc = subprocess.run(argv, env=env, capture_output=True, timeout=TIMEOUT)
    proc, trace, stats = traced(hmm_run_bin, tmp_path, argv, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == glibc.stdout
    main = Trace.load(trace)
    assert main.execs and main.execs[-1].path.endswith("sort"), main.execs
    check_trace(main, stats[main.pid])
    children = [Trace.load(p) for p in tmp_path.glob("run.trace.*")]
    assert children, "the forked child wrote no trace"
    for child in children:
        assert child.ppid == main.pid
        check_trace(child, stats[child.pid], inherited_ok=True)
        assert any(e.path.endswith("/ls") for e in child.execs), child.execs


def test_depth_zero_records_no_stacks_and_depth_limits_frames(hmm_run_bin, tmp_path, support):
    ls = support.require_program("ls")
    _, flat, _ = traced(hmm_run_bin, tmp_path, [ls, "/"], depth=0, name="flat")
    t = Trace.load(flat)
    assert t.depth == 0 and not t.stacks and not t.stack.any()
    _, shallow, _ = traced(hmm_run_bin, tmp_path, [ls, "/"], depth=3, name="shallow")
    t = Trace.load(shallow)
    assert t.stacks and max(len(s) for s in t.stacks.values()) <= 3


def test_misuse_ends_the_trace_with_the_faulty_call(hmm_run_bin, tmp_path, compile_c):
    exe = compile_c("abort_handler_alloc.c")
    proc, trace, _ = traced(hmm_run_bin, tmp_path, [str(exe), "alloc"])
    assert proc.returncode == -signal.SIGABRT
    t = Trace.load(trace)
    assert t.error is None
    (misuse,) = t.misuse
    assert re.fullmatch(r"hmm: free\(\): double free of 0x[0-9a-f]+ \(block of 48 bytes\)",
                        misuse.message), misuse
    faulty = misuse.call
    assert t.tag_name(t.tag[faulty]) == "free"
    first_free = np.flatnonzero((t.ptr == t.ptr[faulty]) & (np.arange(len(t)) < faulty))
    assert first_free.size >= 1 and t.tag_name(t.tag[first_free[-1]]) == "free"
    assert t.stack[faulty] != 0, "the faulty free has no stack"
    frames = t.symbolize([int(t.stack[faulty])])[int(t.stack[faulty])]
    assert any("main" in str(f) for f in frames), frames


def test_a_cut_trace_keeps_what_comes_before_the_cut(hmm_run_bin, tmp_path, support):
    ls = support.require_program("ls")
    _, trace, _ = traced(hmm_run_bin, tmp_path, [ls, "-l", "/usr/bin"])
    whole = Trace.load(trace)
    data = trace.read_bytes()
    cut = tmp_path / "cut.trace"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.warns(Warning):
        t = Trace.load(cut)
    assert t.error is not None and 0 < t.error.offset <= len(data) // 2
    assert str(t.error.offset) in str(t.error).replace(",", "")
    assert 0 < len(t) < len(whole)
    assert (t.ret == whole.ret[: len(t)]).all() and (t.ptr == whole.ptr[: len(t)]).all()


def test_an_unwritable_trace_path_warns_once_and_the_program_runs(support, tmp_path):
    ls = support.require_program("ls")
    library = hmm.library_path("libhmm-trace.so")
    env = support.base_env(LD_PRELOAD=library, HMM_TRACE=str(tmp_path / "missing" / "x.trace"),
                           LC_ALL="C")
    proc = subprocess.run([ls, "-l", "/usr/bin"], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    glibc = subprocess.run([ls, "-l", "/usr/bin"], env=support.base_env(LC_ALL="C"),
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stdout == glibc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("hmm:")]
    assert len(lines) == 2 and "cannot open the trace" in lines[0], proc.stderr
    assert "untraced" in lines[1]


def test_hmm_trace_set_for_the_plain_library_says_so(support, libhmm):
    env = support.base_env(LD_PRELOAD=str(libhmm), HMM_TRACE="/tmp/never.trace")
    proc = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0
    assert "libhmm-trace.so" in proc.stderr and "HMM_TRACE" in proc.stderr


LEAK_SITES = {"leak_names": (280, 7), "leak_table": (1536, 1), "leak_buffer": (5000, 1)}


def test_leaks_of_a_real_program_named_by_hmm_report_and_glibcs_mtrace(
        hmm_run_bin, tmp_path, compile_c, support):
    """trace_leaks.c leaks at three known functions: the report names those
    three, each with its bytes and blocks (the only other block live at
    exit is stdout's buffer, which glibc keeps to the end); glibc's own
    mtrace script, reading the export, lists the same blocks."""
    exe = compile_c("trace_leaks.c")
    proc, trace, _ = traced(hmm_run_bin, tmp_path, [str(exe)])
    assert proc.returncode == 0 and b"leaked" in proc.stdout
    hmm_cmd = [sys.executable, "-m", "hmm.command"]
    report = subprocess.run(hmm_cmd + ["report", "--leaks", "--top", "0", str(trace)],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert report.returncode == 0, report.stderr
    groups = report.stdout.split("\n\n")
    found = {}
    for group in groups:
        head = re.match(r"([\d,]+) bytes in (\d+) blocks? still live at exit", group.strip())
        if not head:
            continue
        first = re.search(r"#0 0x[0-9a-f]+ in (\w+)", group)
        in_program = re.search(r"in (\w+) at \S*trace_leaks\.c:\d+", group)
        if first[1] in LEAK_SITES:
            found[first[1]] = (int(head[1].replace(",", "")), int(head[2]))
        else:   # stdio's buffer, allocated inside libc for main's puts
            assert in_program[1] == "main" and "_IO_" in group, group
    assert found == LEAK_SITES
    # Each site's line: the call of malloc/calloc/realloc in its function.
    assert re.search(r"in leak_table at \S*trace_leaks\.c:30", report.stdout)

    exported = tmp_path / "leaks.mtrace"
    subprocess.run(hmm_cmd + ["report", "--mtrace", str(exported), str(trace)], check=True,
                   capture_output=True, timeout=TIMEOUT)
    mtrace = support.require_program("mtrace")
    listed = subprocess.run([mtrace, str(exported)], capture_output=True, text=True,
                            timeout=TIMEOUT)
    rows = re.findall(r"^0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+at", listed.stdout, re.M)
    t = Trace.load(trace)
    leaks = [leak for leak in t.leaks()]
    assert sorted(int(size, 16) for _, size in rows) == sorted(
        [40] * 7 + [1536, 5000, 4096]), listed.stdout
    live = (t.ret != 0) & (t.freed_by < 0) & (t.tag != [k for k, v in tag_names().items()
                                                          if v == "free"][0])
    assert sorted(int(a, 16) for a, _ in rows) == sorted(int(p) for p in t.ret[live]), leaks


def test_a_trace_that_cannot_grow_stops_and_the_program_runs_on(support, tmp_path):
    """No room for the trace (here the file size limit of `ulimit -f`, as a
    full disk): one warning, the program runs to its end untraced, and the
    trace keeps every record written before."""
    import resource
    ls = support.require_program("ls")
    trace = tmp_path / "small.trace"
    env = support.base_env(LD_PRELOAD=hmm.library_path("libhmm-trace.so"), HMM_TRACE=str(trace),
                           LC_ALL="C")
    limit = 100 * 1024

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    argv = [ls, "-lR", "/usr/lib"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                          preexec_fn=small_files)
    glibc = subprocess.run(argv, env=support.base_env(LC_ALL="C"), capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stdout == glibc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("hmm:")]
    assert lines == [f"hmm: HMM_TRACE={trace}: cannot grow the trace: File too large",
                     "hmm: the program runs on untraced"], proc.stderr
    assert trace.stat().st_size <= limit
    t = Trace.load(trace)
    assert t.error is None and len(t) > 1000 and not t.finished


@pytest.mark.parametrize("mode", ["handler", "threads", "coroutine", "fork"])
def test_what_programs_do_to_the_recorder(hmm_run_bin, tmp_path, compile_c, mode):
    """Signal handlers that allocate while their thread takes the tracer's
    lock or writes a record, a green thread's stack of its own, fork from a
    signal handler: the traced run ends as glibc's does, with a trace that
    reads whole (trace_hostile.c says what each does)."""
    exe = compile_c("trace_hostile.c")
    glibc = subprocess.run([str(exe), mode], capture_output=True, timeout=TIMEOUT)
    assert glibc.returncode == 0, glibc.stderr
    proc, trace, stats = traced(hmm_run_bin, tmp_path, [str(exe), mode])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == glibc.stdout
    t = Trace.load(trace)
    check_trace(t)
    # A handler's call that lands while the recorder writes is counted, not
    # recorded: the heap served it all the same.
    mine = stats[t.pid]
    for stat, names in (("alloc_calls", ("malloc",)), ("free_calls", FREES)):
        recorded = calls_of(t, *names) if stat == "alloc_calls" else int(
            (np.isin(t.tag, [k for k, v in tag_names().items() if v in FREES]) & (t.ptr != 0)).sum())
        assert 0 <= mine[stat] - recorded <= t.lost, (stat, mine[stat], recorded, t.lost)
    if mode == "coroutine":
        assert calls_of(t, "malloc") >= 100
    for child in tmp_path.glob("run.trace.*"):   # children forked outside a call
        c = Trace.load(child)
        assert c.error is None and c.ppid == t.pid


def test_calls_before_the_recorders_constructor(hmm_run_bin, tmp_path, compile_c):
    """A library's constructor allocates 12,000 blocks before the recorder's
    own constructor opens the file: they are all in the trace."""
    lib = compile_c("trace_early_lib.c", "-shared", "-fPIC")
    exe = compile_c("trace_early.c", "-Wl,--no-as-needed", str(lib))
    proc, trace, stats = traced(hmm_run_bin, tmp_path, [str(exe)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"6000 blocks allocated before main, still live\n"
    t = Trace.load(trace)
    check_trace(t, stats[t.pid])
    assert calls_of(t, "malloc") >= 12000
