"""Where libhmm.so's own output goes: the exit report (HMM_STATS) and the
warnings about the environment.

The report must never land in a file the program opened itself, whatever the
program did to its descriptors; HMM_STATS takes on/off words as switches and
anything else as a path; a misspelled HMM_* variable is named once per
process.  Every program here runs under glibc too, and its files and output
are compared.
"""
import os
import re
import subprocess
import sys

import pytest

import hmm

OPTIONS_H = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "csrc", "options.h")


def _known_options():
    """The option names, from the library's own table (csrc/options.h)."""
    with open(OPTIONS_H) as f:
        names = re.findall(r'X\(OPTION_[A-Z_]+, "(HMM_[A-Z_]+)"', f.read())
    assert names, "no options found in csrc/options.h"
    return names


def _files(directory):
    """name -> bytes of every file in `directory`."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _glibc(argv, support, cwd, env=None):
    return subprocess.run(argv, env=env or support.base_env(), cwd=cwd, capture_output=True,
                          timeout=support.TIMEOUT)


def _hmm(argv, support, cwd, **env):
    """A run under HMM with exactly the given HMM_* settings (no stats dir)."""
    return hmm.run(argv, env=support.base_env(**env), cwd=cwd, capture_output=True,
                   timeout=support.TIMEOUT)


# ---- item: the report never lands in the program's own files ---------------


def test_daemon_that_closes_descriptors_keeps_its_files(compile_c, run_both, support,
                                                        tmp_path):
    exe = compile_c("stats_daemon_fds.c")
    (tmp_path / "start").mkdir()
    both = run_both([str(exe)], workdir=tmp_path / "start")
    support.assert_same(both)
    support.assert_served(both.hmm)
    glibc_files = _files(both.glibc.cwd)
    assert len(glibc_files) == 250
    assert _files(both.hmm.cwd) == glibc_files

    # The report to stderr: HMM's copy of stderr was closed by the program,
    # and the number reused for one of its files.
    (tmp_path / "stderr-run").mkdir()
    under = _hmm([str(exe)], support, tmp_path / "stderr-run", HMM_STATS="1")
    assert under.returncode == 0, under.stderr
    assert under.stdout == both.glibc.stdout
    assert _files(tmp_path / "stderr-run") == glibc_files
    # stderr itself was left alone by the program, so the report is there.
    report = hmm.stats.parse(under.stderr.decode())
    assert report["pid"] == under.pid and report["alloc_calls"] >= 250


def test_daemon_that_points_stderr_at_its_log_keeps_its_log(compile_c, run_both, support,
                                                            tmp_path):
    exe = compile_c("stats_daemon_fds.c")
    (tmp_path / "start").mkdir()
    both = run_both([str(exe), "log"], workdir=tmp_path / "start")
    support.assert_same(both)
    support.assert_served(both.hmm)
    glibc_files = _files(both.glibc.cwd)
    assert len(glibc_files) == 251
    assert glibc_files["daemon.log"] == b"daemon: 250 files open\n"
    assert _files(both.hmm.cwd) == glibc_files

    # Neither HMM's copy of stderr nor descriptor 2 leads to the stderr of
    # start-up any more: the report is not written, anywhere.
    (tmp_path / "stderr-run").mkdir()
    under = _hmm([str(exe), "log"], support, tmp_path / "stderr-run", HMM_STATS="1")
    assert (under.returncode, under.stdout) == (0, both.glibc.stdout)
    assert under.stderr == b""
    assert _files(tmp_path / "stderr-run") == glibc_files


def test_program_started_with_stderr_closed_keeps_its_log(compile_c, run_both, support,
                                                          tmp_path):
    exe = compile_c("stats_stderr_closed.c")
    argv = ["sh", "-c", 'exec "$0" 2>&-', str(exe)]
    (tmp_path / "start").mkdir()
    both = run_both(argv, workdir=tmp_path / "start")
    support.assert_same(both)
    assert b"FAILED" not in both.glibc.stdout, both.glibc.stdout
    support.assert_served(both.hmm)   # HMM_STATS=<dir>/%p.txt: the report has its own file
    glibc_files = _files(both.glibc.cwd)
    assert list(glibc_files) == ["log.txt"]
    assert glibc_files["log.txt"].count(b"\n") == 100
    assert _files(both.hmm.cwd) == glibc_files

    # HMM_STATS=1 with no stderr at start: there is nowhere to print.
    for value in ("1", "yes"):
        run_dir = tmp_path / f"stderr-{value}"
        run_dir.mkdir()
        under = _hmm(argv, support, run_dir, HMM_STATS=value)
        assert (under.returncode, under.stdout) == (both.glibc.returncode, both.glibc.stdout)
        assert _files(run_dir) == glibc_files


def test_report_follows_stderr_when_the_program_keeps_it(compile_c, support, tmp_path):
    """The ordinary case stays: stderr open from start to end gets the report,
    also when the program closes its copy's neighbours but not stderr."""
    exe = compile_c("stats_options.c")
    under = _hmm([str(exe)], support, tmp_path, HMM_STATS="1")
    assert under.returncode == 0
    reports = hmm.stats.parse_all(under.stderr.decode())
    assert len(reports) == 2   # the parent and its forked child
    assert under.pid in [r["pid"] for r in reports]


# ---- item: HMM_STATS switches, and unknown HMM_* variables -------------------


@pytest.mark.parametrize("value", ["1", "yes", "true", "on", "YES", "True", "On"])
def test_stats_switch_on_prints_to_stderr_and_makes_no_file(compile_c, support, tmp_path,
                                                           value):
    exe = compile_c("stats_options.c")
    (tmp_path / "glibc").mkdir()
    (tmp_path / "hmm").mkdir()
    plain = _glibc([str(exe)], support, tmp_path / "glibc",
                   env=support.base_env(HMM_STATS=value))
    under = _hmm([str(exe)], support, tmp_path / "hmm", HMM_STATS=value)
    assert (under.returncode, under.stdout) == (plain.returncode, plain.stdout)
    assert list((tmp_path / "hmm").iterdir()) == []
    reports = hmm.stats.parse_all(under.stderr.decode())
    assert sorted(r["pid"] for r in reports)[0] > 0 and len(reports) == 2
    assert all(r["alloc_calls"] >= 100 for r in reports)
    assert plain.stderr == b""


@pytest.mark.parametrize("value", ["0", "no", "false", "off", "NO", "False", "OFF"])
def test_stats_switch_off_prints_nothing_and_makes_no_file(compile_c, support, tmp_path,
                                                          value):
    exe = compile_c("stats_options.c")
    under = _hmm([str(exe)], support, tmp_path, HMM_STATS=value)
    plain = _glibc([str(exe)], support, tmp_path)
    assert (under.returncode, under.stdout, under.stderr) == (0, plain.stdout, b"")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("template, expected", [
    ("stats-%p.txt", "stats-{pid}.txt"),
    ("100%%-%p", "100%-{pid}"),          # %% is a literal %
    ("a%%p", "a%p"),
    ("50%", "50%"),                      # a % that starts nothing stays
    ("%x%p", "%x{pid}"),
])
def test_stats_path_template(compile_c, support, tmp_path, template, expected):
    exe = compile_c("stats_daemon_fds.c")   # its own files are file*.txt
    under = _hmm([str(exe)], support, tmp_path, HMM_STATS=str(tmp_path / template))
    assert under.returncode == 0, under.stderr
    assert b"hmm:" not in under.stderr
    name = expected.format(pid=under.pid)
    report = hmm.stats.read_file(tmp_path / name)
    assert report["pid"] == under.pid and report["alloc_calls"] >= 250
    assert len(list(tmp_path.iterdir())) == 251


def test_unknown_hmm_variable_warns_once_per_process(compile_c, support, tmp_path):
    exe = compile_c("stats_options.c")
    known = ", ".join(_known_options())
    env = support.base_env(HMM_STAT="1", HMM_CHECKS="1", HMM_STATS_FILE="")
    plain = _glibc([str(exe)], support, tmp_path, env=env)
    under = hmm.run([str(exe)], env=env, cwd=tmp_path, capture_output=True,
                    timeout=support.TIMEOUT)
    assert (under.returncode, under.stdout) == (plain.returncode, plain.stdout)
    assert plain.stderr == b""
    warnings = under.stderr.decode().splitlines()
    # The forked child inherits the loaded options: one line per name, not two.
    assert sorted(warnings) == sorted(
        f"hmm: {name}: unknown option ({known}), ignored"
        for name in ("HMM_STAT", "HMM_CHECKS", "HMM_STATS_FILE")), warnings
    assert list(tmp_path.iterdir()) == []   # no report: HMM_STAT is not HMM_STATS


def test_unknown_variable_warns_in_each_program_it_execs(support, tmp_path):
    env = support.base_env(HMM_STAT="1")
    under = hmm.run(["sh", "-c", "ls / >/dev/null; ls / >/dev/null"], env=env, cwd=tmp_path,
                    capture_output=True, text=True, timeout=support.TIMEOUT)
    assert under.returncode == 0
    lines = under.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith("hmm: HMM_STAT: unknown option (")
                                   for line in lines), lines


def test_known_options_do_not_warn(compile_c, support, tmp_path):
    exe = compile_c("stats_options.c")
    values = {"HMM_STATS": "0", "HMM_POLICY": "best-fit", "HMM_TCACHE": "8",
              "HMM_MMAP_THRESHOLD": "1m", "HMM_TRIM_THRESHOLD": "1m", "HMM_TOP_PAD": "64k", "HMM_TRIM_DELAY": "5",
              "HMM_CHECK": "0", "HMM_CHECK_EVERY": "10", "HMM_TRACE": "off",
              "HMM_TRACE_DEPTH": "8", "HMM_TRACE_UNWIND": "libgcc"}
    assert sorted(values) == sorted(_known_options())
    under = _hmm([str(exe)], support, tmp_path, **values)
    assert (under.returncode, under.stderr) == (0, b"")


def test_python_side_sets_only_known_options(tmp_path, monkeypatch):
    """hmm.run and hmm-run put only options of the library's table into a
    program's environment."""
    known = set(_known_options())
    for name in [k for k in os.environ if k.startswith("HMM_")]:
        monkeypatch.delenv(name)
    p = hmm.run(["env"], stats=True, check_mode=2, capture_output=True, text=True)
    ours = {line.split("=", 1)[0] for line in p.stdout.splitlines() if line.startswith("HMM_")}
    assert ours == {"HMM_STATS", "HMM_CHECK"} and ours <= known, ours
    assert p.stderr == ""

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(hmm.__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMM_")}
    env["PYTHONPATH"] = package_parent
    env.pop("LD_PRELOAD", None)
    for options in (["--stats", "--check", "2"], ["--stats-file", str(tmp_path / "%p")]):
        p = subprocess.run([sys.executable, "-m", "hmm", *options, "env"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        ours = {line.split("=", 1)[0] for line in p.stdout.splitlines()
                if line.startswith("HMM_")}
        assert ours and ours <= known, ours
        assert "unknown option" not in p.stderr


def test_a_long_unknown_name_is_cut_and_said_so(compile_c, support, tmp_path):
    exe = compile_c("stats_options.c")
    name = "HMM_" + "X" * 200
    under = hmm.run([str(exe)], env=support.base_env(**{name: "1"}), cwd=tmp_path,
                    capture_output=True, text=True, timeout=support.TIMEOUT)
    assert under.returncode == 0
    (line,) = under.stderr.splitlines()
    shown = line[len("hmm: "):line.index(": unknown option (")]
    assert shown.endswith("...") and name.startswith(shown[:-3]) and len(shown) < 70, line
    assert line.endswith(f"({', '.join(_known_options())}), ignored")


def test_report_to_stderr_without_room_for_a_copy(compile_c, support, tmp_path):
    """With fewer than 200 descriptors allowed there is no copy of stderr:
    descriptor 2, still the stderr of start-up, gets the report."""
    exe = compile_c("stats_options.c")
    argv = ["sh", "-c", 'ulimit -n 64 && exec "$0"', str(exe)]
    plain = _glibc(argv, support, tmp_path)
    under = _hmm(argv, support, tmp_path, HMM_STATS="on")
    assert (under.returncode, under.stdout) == (plain.returncode, plain.stdout)
    reports = hmm.stats.parse_all(under.stderr.decode())
    assert under.pid in [r["pid"] for r in reports] and len(reports) == 2
