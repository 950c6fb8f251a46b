"""What `hmm report` and hmm.trace_report say about a trace.

The traces are written with tests/trace_writer.py for a real program
compiled here with gcc -g: its stacks hold the real return addresses after
each call of malloc (found with objdump), at a load bias of our choosing, so
that the names and lines the reports print come from the program's own
symbols and debug information.  One test also runs the program under the
real recorder, libhmm-trace.so.
"""
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TIMEOUT, base_env, require_program
from trace_writer import TraceWriter

import hmm
from hmm import Trace, command, trace_export, trace_report
from hmm.symbols import Frame, frame_label, frame_text, object_file

SOURCE = """\
#include <stdlib.h>
#include <string.h>

void *leak_one(size_t n)
{
    return malloc(n);
}

void *leak_two(size_t n)
{
    return calloc(n, 2);
}

void *leak_three(void *p, size_t n)
{
    return realloc(p, n);
}

void churn(void)
{
    free(malloc(32));
}

int main(void)
{
    for (int i = 0; i < 3; i++)
        leak_one(100);
    for (int i = 0; i < 2; i++)
        leak_two(25);
    leak_three(leak_one(10), 300);
    for (int i = 0; i < 50; i++)
        churn();
    return 0;
}
"""
# The line of each function's call of the allocator, and of main's calls.
LINE = {"leak_one": 6, "leak_two": 11, "leak_three": 16, "churn": 21}
MAIN_LINE = {"leak_one": 27, "leak_two": 29, "leak_three": 30, "churn": 32}
BIAS = 0x555555554000


class Program:
    """The compiled program: its path, loaded segments, and return
    addresses (file addresses) after its calls."""

    def __init__(self, directory):
        require_program("gcc")
        require_program("objdump")
        self.source = directory / "prog.c"
        self.source.write_text(SOURCE)
        self.path = directory / "prog"
        subprocess.run(["gcc", "-g", "-O0", "-fno-inline", "-o", str(self.path), str(self.source)],
                       check=True, timeout=TIMEOUT)
        from elftools.elf.elffile import ELFFile
        with open(self.path, "rb") as f:
            elf = ELFFile(f)
            self.segments = [(s["p_vaddr"], s["p_memsz"]) for s in elf.iter_segments()
                             if s["p_type"] == "PT_LOAD"]
            self.symbols = {s.name: (s["st_value"], s["st_size"])
                            for s in elf.get_section_by_name(".symtab").iter_symbols()
                            if s["st_info"]["type"] == "STT_FUNC" and s["st_value"]}
        self.returns = self._returns()

    def _returns(self):
        """{(function, callee): the address after its call of callee}."""
        text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(self.path)],
                              capture_output=True, text=True, check=True, timeout=TIMEOUT).stdout
        found, function, pending = {}, None, None
        for line in text.splitlines():
            head = re.match(r"^[0-9a-f]+ <(\w+)>:$", line)
            if head:
                function = head.group(1)
                continue
            insn = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", line)
            if not insn:
                continue
            address = int(insn.group(1), 16)
            if pending:
                found.setdefault(pending, address)
                pending = None
            call = re.search(r"call\s+[0-9a-f]+ <(\w+)(@plt)?>", insn.group(2))
            if call:
                pending = (function, call.group(1))
        return found

    def stack(self, function, callee):
        """The recorded stack of `function`'s call of `callee`, called from
        main: return addresses at BIAS, innermost first."""
        inner = BIAS + self.returns[(function, callee)]
        outer = BIAS + self.returns[("main", function)]
        return [inner, outer]

    def module(self, writer, bias=BIAS):
        writer.module(bias, str(self.path), self.segments)


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return Program(tmp_path_factory.mktemp("prog"))


def program_trace(program, bias=BIAS, extra_leak=0):
    """A trace of the program as it runs: three leaking sites (leak_one:
    3 x 100 bytes, leak_two: 2 x 50, leak_three: 300 from a realloc of a
    block leak_one made), and churn's 50 temporary 32-byte blocks.  With
    `extra_leak`, leak_one leaks one more block of that size."""
    w = TraceWriter(pid=1000, ppid=999, tsc=0, monotonic_ns=1_000_000_000)
    program.module(w, bias)
    w.clock(0, 1_000_000_000)
    w.thread(1000)

    def stack(stack_id, function, callee):
        inner, outer = program.stack(function, callee)
        w.stack(stack_id, [inner - BIAS + bias, outer - BIAS + bias])

    stack(1, "leak_one", "malloc")
    stack(2, "leak_two", "calloc")
    stack(3, "leak_three", "realloc")
    stack(4, "churn", "malloc")
    stack(5, "churn", "free")
    heap = 0x555555560000
    for i in range(3):
        w.malloc(100, heap + 0x100 * i, stack=1, dt=1000)
    for i in range(2):
        w.calloc(25, 2, heap + 0x400 + 0x100 * i, stack=2, dt=1000)
    small = w.malloc(10, heap + 0x800, stack=1, dt=1000)
    w.realloc(small, 300, heap + 0x1000, stack=3, dt=1000)
    for _ in range(50):
        p = w.malloc(32, heap + 0x2000, stack=4, dt=1000)
        w.free(p, stack=5, dt=1000)
    if extra_leak:
        w.malloc(extra_leak, heap + 0x3000, stack=1, dt=1000)
    w.clock(w.time, 1_000_000_000 + w.time)  # a tick is a nanosecond
    w.finish()
    return w


def save(tmp_path, writer, name="prog.trace"):
    path = tmp_path / name
    writer.save(path)
    return path


def report(capsys, *argv):
    status = command.main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


# ---- symbols ------------------------------------------------------------------------

def test_symbols_of_a_real_elf(program):
    obj = object_file(str(program.path))
    start, size = program.symbols["leak_two"]
    assert obj.functions([start, start + size - 1]) == ["leak_two"] * 2
    ret = program.returns[("leak_two", "calloc")]
    assert obj.lines([ret - 1]) == [(str(program.source), LINE["leak_two"])]
    # an address inside the file but in no function: the ELF header
    assert obj.functions([0x10]) == [None]


def test_frames_name_function_line_or_object_offset(program):
    w = TraceWriter()
    program.module(w)
    w.thread(1)
    ret = BIAS + program.returns[("leak_one", "malloc")]
    w.stack(1, [ret, BIAS + 0x10, 0x1234])
    w.malloc(1, 0x10, stack=1)
    t = Trace.from_bytes(w.data())
    inner, header, nowhere = t.symbolize([1])[1]
    assert inner == Frame(ret, str(program.path), ret - BIAS, "leak_one", str(program.source),
                          LINE["leak_one"])
    assert frame_text(inner) == f"leak_one at {program.source}:{LINE['leak_one']}"
    assert frame_label(header) == "prog+0x10" and header.function is None
    assert frame_label(nowhere) == "0x1234" and nowhere.module is None


def test_a_missing_object_still_gives_object_and_offset():
    w = TraceWriter()
    w.module(0x7f0000000000, "/nonexistent/libgone.so", [(0, 0x10000)])
    w.thread(1)
    w.stack(1, [0x7f0000001234])
    w.malloc(1, 0x10, stack=1)
    frame = Trace.from_bytes(w.data()).symbolize([1])[1][0]
    assert frame_label(frame) == "libgone.so+0x1234"


# ---- summary and leaks ---------------------------------------------------------------

def test_summary_numbers(program):
    t = Trace.from_bytes(program_trace(program).data(), name="prog.trace")
    s = t.summary(top=3)
    assert s.calls == 107 and s.pid == 1000 and s.ppid == 999
    assert s.threads == [(1000, 107)]
    assert s.calls_by_function == {"malloc": 54, "free": 50, "calloc": 2, "realloc": 1}
    assert s.allocated_bytes == 300 + 100 + 10 + 300 + 50 * 32
    assert s.allocated_blocks == 57
    # churn's 50, and leak_one's 10 bytes that the realloc freed next
    assert s.temporary_blocks == 51
    # the peak: all the leaks and one churn block, after the first churn malloc
    assert (s.peak_bytes, s.peak_call) == (300 + 100 + 300 + 32, 7)
    assert s.peak_seconds == pytest.approx(8e-6)
    assert (s.live_bytes, s.live_blocks) == (700, 6)
    assert s.finished and s.error is None and s.bad_frees == 0 and s.failed_allocations == 0
    assert [(site.stack, site.bytes, site.blocks) for site in s.top_peak] == [
        (1, 300, 3), (3, 300, 1), (2, 100, 2)]
    assert [(site.stack, site.bytes, site.blocks) for site in s.top_calls] == [
        (4, 1600, 50), (1, 310, 4), (2, 100, 2)]
    assert [(site.stack, site.bytes, site.blocks) for site in s.top_live] == [
        (1, 300, 3), (3, 300, 1), (2, 100, 2)]
    text = str(s)
    assert "peak in use:   732 bytes, after call 7 at 0.000008 s" in text
    assert "live at exit:  700 bytes in 6 blocks" in text
    assert f"#0 0x{BIAS + program.returns[('churn', 'malloc')]:x} in churn at " \
           f"{program.source}:{LINE['churn']}" in text


def test_leaks_at_three_stacks_with_their_bytes_and_lines(program):
    t = Trace.from_bytes(program_trace(program).data())
    leaks = t.leaks()
    assert [(leak.bytes, leak.blocks) for leak in leaks] == [(300, 3), (300, 1), (100, 2)]
    expected = ["leak_one", "leak_three", "leak_two"]
    for leak, function in zip(leaks, expected):
        inner, outer = leak.frames
        assert (inner.function, inner.line) == (function, LINE[function])
        assert (outer.function, outer.line) == ("main", MAIN_LINE[function])
    text = str(leaks[0])
    assert text.splitlines()[0] == "300 bytes in 3 blocks still live at exit, allocated at:"
    assert text.splitlines()[1] == (f"    #0 0x{BIAS + program.returns[('leak_one', 'malloc')]:x} "
                                    f"in leak_one at {program.source}:{LINE['leak_one']}")
    assert str(leaks[1]).startswith("300 bytes in 1 block still live at exit")


def test_blocks_live_at_an_exec_are_gone_not_leaked():
    w = TraceWriter()
    w.thread(1)
    w.malloc(100, 0x1000)
    w.malloc(7, 0x2000)
    w.free(0x2000)
    w.exec("/bin/next")
    w.thread(1)
    w.malloc(40, 0x1000)   # the same address, in the new program
    w.malloc(2, 0x3000)
    w.free(0x3000)
    t = Trace.from_bytes(w.data())
    s = t.summary()
    assert (s.live_bytes, s.live_blocks, s.exec_bytes, s.exec_blocks) == (40, 1, 100, 1)
    assert s.programs == [None, "/bin/next"]
    assert trace_report.in_use(t).tolist() == [100, 107, 100, 40, 42, 40]
    assert [(leak.bytes, leak.blocks) for leak in t.leaks()] == [(40, 1)]


def test_bad_frees_failed_allocations_lost_and_misuse_are_counted():
    w = TraceWriter()
    w.thread(1)
    w.malloc(1 << 50, None)
    a = w.malloc(8, 0x10)
    w.realloc(a, 1 << 50, None)   # failed: not a bad free, a stays
    w.free(0xbad0)
    w.free(a)
    w.free(a)
    w.lost(4)
    w.misuse("hmm: double free of 0x10 in free()")
    t = Trace.from_bytes(w.data())
    s = t.summary()
    assert (s.failed_allocations, s.bad_frees, s.lost_calls) == (2, 2, 4)
    assert "hmm: double free of 0x10 in free()" in str(s)
    assert "no FINISH record" in str(s)


def test_timeline_keeps_the_peak_when_it_thins_out():
    w = TraceWriter(tsc=0, monotonic_ns=0)
    w.clock(0, 0)
    w.thread(1)
    for i in range(1000):
        w.malloc(10, 0x1000 + 16 * i, dt=100)
    for i in range(1000):
        w.free(0x1000 + 16 * i, dt=100)
    w.clock(w.time, w.time)
    t = Trace.from_bytes(w.data())
    line = t.timeline(points=7)
    assert len(line.calls) == 7 and line.bytes.max() == 10_000
    assert line.calls[np.argmax(line.bytes)] == 999
    full = t.timeline(points=5000)
    assert full.bytes.tolist() == trace_report.in_use(t).tolist()
    assert full.seconds[0] == pytest.approx(100e-9)


# ---- exports -------------------------------------------------------------------------

def mtrace_leaks(path):
    """(address, size) pairs that glibc's mtrace script lists as not freed,
    and its other complaints."""
    require_program("mtrace")
    run = subprocess.run(["mtrace", str(path)], capture_output=True, text=True, timeout=TIMEOUT)
    listed = re.findall(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+at ", run.stdout, re.M)
    complaints = [line for line in run.stdout.splitlines() if line.startswith(("+ ", "- "))]
    return {(int(a, 16), int(s, 16)) for a, s in listed}, complaints, run.returncode


def test_mtrace_script_lists_exactly_the_leaked_blocks(program, tmp_path):
    w = program_trace(program)
    w.malloc(64, 0x9000)
    w.malloc(65, 0x9000)          # the first's free went unrecorded
    w.realloc(0x9000, 0, None)    # realloc(p, 0) frees
    w.malloc(5, 0x9100)
    w.exec("/bin/next")
    w.thread(1)
    w.malloc(44, 0x9100)          # a new program: the old block is gone
    w.reallocarray(None, 3, 4, 0x9200)
    w.free(None)
    t = Trace.from_bytes(w.data())
    out = tmp_path / "mtrace.log"
    with open(out, "w") as f:
        trace_export.write_mtrace(t, f)
    text = out.read_text()
    assert text.startswith("= Start\n") and text.endswith("= End\n")
    caller = BIAS + program.returns[("leak_one", "malloc")]
    assert f"@ {program.path}:(leak_one)[{caller:#x}] + 0x555555560000 0x64\n" in text
    assert f"< 0x555555560800\n@ {program.path}:(leak_three)" in text
    listed, complaints, status = mtrace_leaks(out)
    b = trace_report.blocks(t)
    live = b.how == trace_report.LIVE
    ours = {(int(t.ret[c]), int(s)) for c, s in zip(b.call[live], b.size[live])}
    assert ours == {(0x9100, 44), (0x9200, 12)}
    assert listed == ours and complaints == [] and status == 1


def test_mtrace_keeps_what_glibc_would_complain_about(tmp_path):
    w = TraceWriter()
    w.thread(1)
    w.free(0xbad0)
    w.malloc(3, 0x10)
    w.free(0x10)
    out = tmp_path / "m"
    with open(out, "w") as f:
        trace_export.write_mtrace(Trace.from_bytes(w.data()), f)
    listed, complaints, status = mtrace_leaks(out)
    assert listed == set() and status == 0
    assert len(complaints) == 1 and "0x000000000000bad0 Free 2 was never alloc'd" in complaints[0]


def test_collapsed_stacks_for_each_weight(program):
    t = Trace.from_bytes(program_trace(program).data())
    start = "main"
    assert trace_export.collapsed_stacks(t, "leaked") == {
        f"{start};leak_one": 300, f"{start};leak_two": 100, f"{start};leak_three": 300}
    assert trace_export.collapsed_stacks(t, "peak") == {
        f"{start};leak_one": 300, f"{start};leak_two": 100, f"{start};leak_three": 300,
        f"{start};churn": 32}
    assert trace_export.collapsed_stacks(t, "calls") == {
        f"{start};leak_one": 4, f"{start};leak_two": 2, f"{start};leak_three": 1,
        f"{start};churn": 50}
    with pytest.raises(ValueError, match="weight"):
        trace_export.collapsed_stacks(t, "bytes")


def test_collapsed_stacks_without_stacks_and_with_odd_names():
    w = TraceWriter()
    w.thread(1)
    w.malloc(5, 0x10)
    w.module(0, "/x/odd;name lib.so", [(0, 0x1000)])
    w.stack(1, [0x20])
    w.malloc(6, 0x20, stack=1)
    t = Trace.from_bytes(w.data())
    assert trace_export.collapsed_stacks(t, "leaked") == {"[no stack]": 5, "odd:name lib.so+0x20": 6}


def test_json_has_the_summary_and_the_leaks(program, tmp_path, capsys):
    path = save(tmp_path, program_trace(program))
    out = tmp_path / "r.json"
    status, stdout, stderr = report(capsys, path, "--json", out)
    assert (status, stdout, stderr) == (0, "", "")
    data = json.loads(out.read_text())
    assert data["format"] == "hmm-trace-report" and data["version"] == 1
    assert data["summary"]["peak_bytes"] == 732 and data["summary"]["live_bytes"] == 700
    assert [(leak["bytes"], leak["blocks"]) for leak in data["leaks"]] == [(300, 3), (300, 1), (100, 2)]
    frame = data["leaks"][0]["frames"][0]
    assert (frame["function"], frame["line"], frame["file"]) == ("leak_one", LINE["leak_one"],
                                                                 str(program.source))
    assert data["summary"]["top_calls"][0]["blocks"] == 50


def test_diff_matches_sites_by_name_across_load_addresses(program, tmp_path, capsys):
    base = save(tmp_path, program_trace(program), "base.trace")
    new = save(tmp_path, program_trace(program, bias=0x5566aa000000, extra_leak=200), "new.trace")
    d = trace_report.diff(Trace.load(base), Trace.load(new))
    assert d.peak == (732, 900) and d.leaked == (700, 900)
    assert len(d.grown) == 1
    site = d.grown[0]
    assert [f.function for f in site.frames] == ["leak_one", "main"]
    assert site.peak == (300, 500) and site.leaked == (300, 500)
    status, out, err = report(capsys, new, "--diff", base)
    assert status == 0 and err == ""
    assert "peak in use:   732 -> 900 (+168) bytes" in out
    assert "+200 bytes at the peak (300 -> 500), +200 live at exit (300 -> 500), from:" in out
    assert f"#0 leak_one at {program.source}:{LINE['leak_one']}" in out
    # The other way round, only churn grew: its block is live at that
    # trace's peak, and not at the bigger one's.
    d = trace_report.diff(Trace.load(new), Trace.load(base))
    assert [([f.function for f in g.frames], g.peak, g.leaked) for g in d.grown] == [
        (["churn", "main"], (0, 32), (0, 0))]
    same = trace_report.diff(Trace.load(base), Trace.load(base))
    assert same.grown == [] and "no site holds more bytes" in str(same)


# ---- the command ---------------------------------------------------------------------

def test_report_default_prints_summary_then_leaks(program, tmp_path, capsys):
    status, out, err = report(capsys, save(tmp_path, program_trace(program)))
    assert status == 0 and err == ""
    assert out.index("peak in use:") < out.index("leaks:") < out.index(
        "300 bytes in 3 blocks still live at exit, allocated at:")
    assert out.rstrip().endswith("in all: 700 bytes in 6 blocks still live at exit, from 3 sites")


def test_report_top_limits_the_leaks_listed(program, tmp_path, capsys):
    status, out, _ = report(capsys, save(tmp_path, program_trace(program)), "--leaks", "--top", "1")
    assert status == 0 and "peak in use" not in out
    assert "... and 2 more sites with 400 bytes (--top 0 lists them all)" in out


def test_report_on_a_damaged_trace_reports_the_prefix_and_fails(program, tmp_path, capsys):
    w = program_trace(program)
    data = w.data()
    cut_at = w.offsets[15]  # the first malloc of the churn loop, call 7
    path = tmp_path / "cut.trace"
    path.write_bytes(data[:cut_at + 1])
    status, out, err = report(capsys, path, "--summary")
    assert status == 1
    assert err.strip() == (f"hmm report: error: {path}: byte {cut_at:,}: a record runs past the end "
                           "of the records: the file was cut short or is damaged; reporting on "
                           "the 7 calls before it")
    assert "process: pid 1000, parent 999; 7 calls" in out
    assert "the trace has no FINISH record" in out


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b"not a trace at all" * 5), "byte 0: not an HMM trace"),
    (lambda p: p.mkdir(), "is a directory"),
])
def test_report_errors_are_one_line(tmp_path, capsys, make, message):
    path = tmp_path / "t"
    make(path)
    status, out, err = report(capsys, path)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("hmm report: error: ") and message in err


def test_report_usage_errors(tmp_path, capsys):
    status, _, err = report(capsys, tmp_path / "t", "--bogus")
    assert status == 2 and "unrecognized arguments: --bogus" in err
    status, _, err = report(capsys, tmp_path / "t", "--weight", "calls")
    assert status == 2 and "--weight goes with --flamegraph" in err
    status, _, err = report(capsys, tmp_path / "t", "--top", "-3")
    assert status == 2 and "expected a count" in err
    status, _, err = report(capsys)
    assert status == 2 and "the following arguments are required: TRACE" in err
    status, out, _ = report(capsys, "--help")
    assert status == 0 and "--flamegraph OUT" in out and "--diff BASE" in out


def test_report_cannot_write_an_output(program, tmp_path, capsys):
    path = save(tmp_path, program_trace(program))
    status, _, err = report(capsys, path, "--json", tmp_path / "no" / "such" / "dir.json")
    assert status == 1 and "cannot write" in err and "No such file or directory" in err


def test_report_writes_every_output(program, tmp_path, capsys):
    path = save(tmp_path, program_trace(program))
    png, csv, flame, log = (tmp_path / n for n in ("t.png", "t.csv", "f.txt", "m.log"))
    status, out, err = report(capsys, path, "--timeline", png, "--timeline-csv", csv,
                              "--flamegraph", flame, "--weight", "calls", "--mtrace", log,
                              "--progress")
    assert status == 0 and out == ""
    assert "hmm report: reading 107 records..." in err
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 450)
    rows = csv.read_text().splitlines()
    assert rows[0] == "seconds,call,bytes_in_use" and len(rows) == 108
    assert rows[8] == "0.000008000,7,732"
    assert "main;churn 50\n" in flame.read_text()
    assert mtrace_leaks(log)[0] == {(0x555555560000 + 0x100 * i, 100) for i in range(3)} | {
        (0x555555560400, 50), (0x555555560500, 50), (0x555555561000, 300)}


def test_flamegraph_to_stdout(program, tmp_path, capsys):
    status, out, _ = report(capsys, save(tmp_path, program_trace(program)), "--flamegraph", "-",
                            "--weight", "leaked")
    assert status == 0
    assert out.splitlines() == ["main;leak_one 300", "main;leak_three 300", "main;leak_two 100"]


def test_hmm_verbs(capsys):
    assert command.main([]) == 2
    assert "usage: hmm COMMAND" in capsys.readouterr().err
    assert command.main(["--help"]) == 0
    assert "report   report on a trace" in capsys.readouterr().out
    assert command.main(["frobnicate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "hmm: error: unknown command 'frobnicate': the commands are run, report, replay, bench "
        "(see hmm --help)")
    assert command.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hmm (hmm) {hmm.__version__}"
    # `hmm run` is hmm-run
    assert command.main(["run", "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hmm-run (hmm) {hmm.__version__}"
    assert command.main(["run"]) == 2
    assert "no program given" in capsys.readouterr().err


def test_hmm_bench_is_the_benchmark_of_python_m_hmm():
    for argv in (["-c", "import sys; from hmm.command import main; sys.exit(main(['bench', '--help']))"],
                 ["-m", "hmm", "bench", "--help"]):
        run = subprocess.run([sys.executable] + argv, capture_output=True, text=True,
                             timeout=TIMEOUT, env=base_env())
        assert run.returncode == 0 and "--allocators LIST" in run.stdout


def test_import_hmm_stays_light():
    code = "import sys, hmm; print('numpy' in sys.modules, 'hmm.trace' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=TIMEOUT, env=base_env())
    assert run.stdout.split() == ["False", "False"]


# ---- the real recorder ---------------------------------------------------------------

def test_report_on_a_trace_of_the_real_recorder(program, tmp_path, capsys):
    recorder = Path(hmm.__file__).resolve().parent / "libhmm-trace.so"
    assert recorder.is_file(), f"{recorder} is missing: python build_hmm.py builds it"
    path = tmp_path / "real.trace"
    run = subprocess.run([str(program.path)], env=base_env(LD_PRELOAD=recorder, HMM_TRACE=path),
                         timeout=TIMEOUT)
    assert run.returncode == 0
    status, out, err = report(capsys, path, "--leaks")
    assert status == 0 and err == ""
    for bytes_blocks, function in (("300 bytes in 3 blocks", "leak_one"),
                                   ("300 bytes in 1 block", "leak_three"),
                                   ("100 bytes in 2 blocks", "leak_two")):
        head = f"{bytes_blocks} still live at exit, allocated at:"
        assert head in out
        after = out[out.index(head):].splitlines()[1]
        assert after.endswith(f"in {function} at {program.source}:{LINE[function]}")
