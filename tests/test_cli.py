"""hmm-run (the CLI), hmm.run and the stats reader.

The CLI is run as `python -m hmm` in a subprocess wherever it execs a
program, and called in-process through main() where it does not.
"""
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys

import pytest

import hmm
from hmm import cli
from hmm import stats as hmm_stats
from hmm.cli import elf_has_interpreter

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(hmm.__file__)))
STAT_LINE = r"^hmm: ([a-z_]+) (\d+)$"


def child_env(**changes):
    """The environment for `python -m hmm`: this very package first on
    PYTHONPATH (in-place build or installed), LD_PRELOAD unset unless given."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("HMM_STATS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def hmm_run(*args, env=None, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 60)
    return subprocess.run([sys.executable, "-m", "hmm", *args],
                          env=child_env() if env is None else env, **kwargs)


@pytest.fixture
def lib():
    path = hmm.library_path()
    assert os.path.isabs(path) and os.path.isfile(path)
    return path


# ---- the library and the preload environment -----------------------------------


def test_print_lib(lib):
    p = hmm_run("--print-lib")
    assert p.returncode == 0, p.stderr
    assert p.stdout == lib + "\n"
    assert p.stderr == ""


def test_print_lib_in_process(lib, capsys):
    assert cli.main(["--print-lib"]) == 0
    out, err = capsys.readouterr()
    assert out == lib + "\n" and err == ""


def test_library_is_next_to_the_package(lib):
    assert os.path.dirname(lib) == os.path.dirname(os.path.abspath(hmm.__file__))
    assert os.path.basename(lib) == "libhmm.so"


def test_missing_library(tmp_path):
    # A copy of the Python package without its native parts.
    copy = tmp_path / "hmm"
    copy.mkdir()
    for name in os.listdir(os.path.dirname(hmm.__file__)):
        if name.endswith(".py"):
            shutil.copy(os.path.join(os.path.dirname(hmm.__file__), name), copy / name)
    env = child_env(PYTHONPATH=str(tmp_path))
    for args in (["--print-lib"], ["--env"], ["true"]):
        p = hmm_run(*args, env=env, cwd=tmp_path)
        assert p.returncode == 1, (args, p.stderr)
        assert p.stdout == ""
        assert p.stderr.startswith("hmm-run: ")
        assert str(copy / "libhmm.so") in p.stderr
        assert "pip install ." in p.stderr and "python build_hmm.py" in p.stderr
    code = "import hmm\ntry:\n    hmm.library_path()\nexcept FileNotFoundError as e:\n    print(e)\n"
    p = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert "pip install ." in p.stdout, p.stderr


def test_preload_env_prepends(lib):
    env = hmm.preload_env({"LD_PRELOAD": "libc.so.6", "X": "1"})
    assert env == {"LD_PRELOAD": f"{lib}:libc.so.6", "X": "1"}
    assert hmm.preload_env({})["LD_PRELOAD"] == lib
    assert hmm.preload_env({"LD_PRELOAD": ""})["LD_PRELOAD"] == lib
    # Nested runs do not pile up copies.
    assert hmm.preload_env(hmm.preload_env({"LD_PRELOAD": "a.so"}))["LD_PRELOAD"] == f"{lib}:a.so"


def test_preload_env_defaults_to_os_environ(lib, monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "libm.so.6")
    monkeypatch.setenv("HMM_POLICY", "best-fit")   # a real option: it is kept
    env = hmm.preload_env()
    assert env["LD_PRELOAD"] == f"{lib}:libm.so.6"
    assert env["HMM_POLICY"] == "best-fit"
    assert os.environ["LD_PRELOAD"] == "libm.so.6"   # a copy, not os.environ


def test_import_does_not_load_the_core():
    code = ("import sys, hmm\n"
            "print('hmm._core' in sys.modules)\n"
            "hmm.Heap(1 << 20)\n"
            "print('hmm._core' in sys.modules)\n")
    p = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                       text=True, timeout=60)
    assert p.stdout.split() == ["False", "True"], p.stderr


def test_package_exports():
    assert hmm.__version__ == "1.0.0"
    for name in ("library_path", "run", "Heap", "HeapError", "Block", "HmmProcess"):
        assert hasattr(hmm, name)
    assert issubclass(hmm.HmmProcess, subprocess.CompletedProcess)


# ---- running a program ------------------------------------------------------------------


def test_exit_status_passes_through():
    p = hmm_run("sh", "-c", "exit 7")
    assert p.returncode == 7, p.stderr


def test_death_by_signal_passes_through():
    p = hmm_run("sh", "-c", "kill -TERM $$")
    assert p.returncode == -signal.SIGTERM, p.stderr


def test_hmm_run_becomes_the_program():
    # exec, not a child: the program has the pid that was started.
    process = subprocess.Popen([sys.executable, "-m", "hmm", "sh", "-c", "echo $$"],
                               env=child_env(), stdout=subprocess.PIPE, text=True)
    out, _ = process.communicate(timeout=60)
    assert int(out) == process.pid


def test_program_sees_the_preload(lib):
    p = hmm_run("sh", "-c", 'echo "$LD_PRELOAD"')
    assert p.stdout == lib + "\n", p.stderr


def test_existing_preload_is_kept(lib):
    p = hmm_run("sh", "-c", 'echo "$LD_PRELOAD"', env=child_env(LD_PRELOAD="libc.so.6"))
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"{lib}:libc.so.6\n"


@pytest.mark.parametrize("separator", [["--"], []])
def test_program_options_are_not_ours(separator):
    p = hmm_run(*separator, "ls", "-l", "/")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("total ")              # -l reached ls
    assert any(line.startswith("d") and line.endswith(" usr") for line in lines)


def test_our_option_names_after_the_program_belong_to_it():
    p = hmm_run("sh", "-c", 'echo "$@"', "sh", "--stats", "--help", "--print-lib", "--")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "--stats --help --print-lib --\n"
    assert "hmm:" not in p.stderr


def test_double_dash_lets_a_program_start_with_a_dash(tmp_path):
    program = tmp_path / "-dash"
    program.write_text("#!/bin/sh\necho dashed \"$@\"\n")
    program.chmod(0o755)
    p = hmm_run("--", "./-dash", "-x", cwd=tmp_path)
    assert (p.returncode, p.stdout) == (0, "dashed -x\n"), p.stderr
    # Without '--' it is an option of ours, and an unknown one.
    p = hmm_run("-dash", cwd=tmp_path)
    assert p.returncode == 2 and "unknown option -dash" in p.stderr


def test_stdin_passes_through():
    p = hmm_run("cat", input="through hmm\n")
    assert (p.returncode, p.stdout) == (0, "through hmm\n"), p.stderr


def test_sigpipe_is_reset_for_the_program():
    # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive exec.
    p = hmm_run("grep", "^SigIgn:", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    ignored = int(p.stdout.split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


# ---- programs that cannot run ------------------------------------------------------------


def test_missing_program(capsys):
    assert cli.main(["hmm-no-such-program-xyz", "-l"]) == 127
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "hmm-run: hmm-no-such-program-xyz: command not found\n"


def test_missing_program_subprocess():
    p = hmm_run("hmm-no-such-program-xyz")
    assert p.returncode == 127
    assert p.stderr == "hmm-run: hmm-no-such-program-xyz: command not found\n"


def test_missing_program_path(tmp_path, capsys):
    missing = str(tmp_path / "nothing-here")
    assert cli.main([missing]) == 127
    assert capsys.readouterr().err == f"hmm-run: {missing}: No such file or directory\n"


def test_program_not_executable(tmp_path, capsys):
    program = tmp_path / "script.sh"
    program.write_text("#!/bin/sh\necho hi\n")
    program.chmod(0o644)
    if os.access(program, os.X_OK):   # root may execute anything with an x bit only
        pytest.fail("a file without x bits is executable here")
    assert cli.main([str(program)]) == 126
    assert capsys.readouterr().err == f"hmm-run: {program}: Permission denied\n"
    p = hmm_run(str(program))
    assert p.returncode == 126 and "Permission denied" in p.stderr


def test_directory_is_not_executable(tmp_path, capsys):
    assert cli.main([str(tmp_path)]) == 126
    assert "Is a directory" in capsys.readouterr().err


def test_exec_format_error(tmp_path):
    program = tmp_path / "garbage"
    program.write_bytes(b"\x00\x01 not a program\n")
    program.chmod(0o755)
    p = hmm_run(str(program))
    assert p.returncode == 126
    assert p.stderr.startswith(f"hmm-run: {program}: ")
    assert "format" in p.stderr.lower()


# ---- programs LD_PRELOAD cannot reach -------------------------------------------------------


def _try_static(tmp, name, source, flags):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    (tmp / f"{name}.c").write_text(source)
    exe = tmp / name
    built = subprocess.run([cc, *flags, "-o", str(exe), str(tmp / f"{name}.c")],
                           capture_output=True, timeout=120)
    if built.returncode == 0 and elf_has_interpreter(exe) is False:
        return [str(exe)], 3
    return None


RAW_EXIT = """
void _start(void)
{
#if defined(__x86_64__)
    __asm__ volatile("mov $60, %eax\\n\\tmov $3, %edi\\n\\tsyscall");
#elif defined(__aarch64__)
    __asm__ volatile("mov x8, #93\\n\\tmov x0, #3\\n\\tsvc #0");
#else
#error "no raw exit syscall for this architecture"
#endif
    for (;;) {
    }
}
"""


@pytest.fixture(scope="module")
def static_program(tmp_path_factory):
    """(argv, exit status) of a statically linked program."""
    tmp = tmp_path_factory.mktemp("static")
    found = _try_static(tmp, "exit3", "int main(void) { return 3; }\n", ["-static", "-O2"])
    if found:
        return found
    # No static libc: a static program from the system, if there is one...
    for candidate in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "/usr/bin/ldconfig"):
        if os.access(candidate, os.X_OK) and elf_has_interpreter(candidate) is False:
            return [candidate, "--version"], 0
    # ...or one with no libc at all.
    found = _try_static(tmp, "raw3", RAW_EXIT, ["-static", "-nostdlib", "-no-pie", "-O2"])
    if found:
        return found
    pytest.fail("no statically linked program could be built or found")


def test_static_program_warns(static_program):
    argv, status = static_program
    p = hmm_run(*argv)
    assert p.returncode == status, p.stderr
    warnings = [line for line in p.stderr.splitlines() if line.startswith("hmm-run: warning: ")]
    assert len(warnings) == 1
    assert "statically linked" in warnings[0] and argv[0] in warnings[0]


def test_dynamic_program_and_script_do_not_warn(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    for argv in (["true"], [str(script)], [sys.executable, "-c", "pass"]):
        p = hmm_run(*argv)
        assert p.returncode == 0
        assert "warning" not in p.stderr, argv


def _elf(elf_class, order, types):
    """A minimal ELF header followed by program headers of the given types."""
    is64 = elf_class == 2
    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    ident = b"\x7fELF" + bytes([elf_class, 1 if order == "<" else 2, 1]) + bytes(9)
    fields = (2, 62, 1, 0x400000, ehsize, 0, 0, ehsize, phentsize, len(types), 0, 0, 0)
    header = struct.pack(order + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH"), *fields)
    table = b"".join(struct.pack(order + "I", t) + bytes(phentsize - 4) for t in types)
    return ident + header + table


@pytest.mark.parametrize("elf_class", [1, 2])
@pytest.mark.parametrize("order", ["<", ">"])
def test_elf_parser(tmp_path, elf_class, order):
    path = tmp_path / "elf"
    path.write_bytes(_elf(elf_class, order, [6, 3, 1]))    # PHDR, INTERP, LOAD
    assert elf_has_interpreter(path) is True
    path.write_bytes(_elf(elf_class, order, [1, 1, 4]))    # LOAD, LOAD, NOTE
    assert elf_has_interpreter(path) is False
    phentsize = 56 if elf_class == 2 else 32
    path.write_bytes(_elf(elf_class, order, [1, 1])[:-phentsize + 2])  # cut short
    assert elf_has_interpreter(path) is None


def test_elf_parser_on_real_files(tmp_path, static_program):
    assert elf_has_interpreter(sys.executable) is True
    assert elf_has_interpreter(static_program[0][0]) is False
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    assert elf_has_interpreter(script) is None
    (tmp_path / "short").write_bytes(b"\x7fELF\x02")
    assert elf_has_interpreter(tmp_path / "short") is None
    assert elf_has_interpreter(tmp_path / "absent") is None


def test_setuid_and_setgid_warn(tmp_path, monkeypatch):
    program = tmp_path / "prog"
    shutil.copy(shutil.which("true"), program)
    program.chmod(0o755)
    st = os.stat(program)
    assert cli._preload_warning(str(program)) is None
    # The loader's secure mode starts when exec changes the effective ids.
    monkeypatch.setattr(os, "geteuid", lambda: st.st_uid + 1)
    monkeypatch.setattr(os, "getegid", lambda: st.st_gid + 1)
    program.chmod(0o755 | stat.S_ISUID)
    assert "setuid" in cli._preload_warning(str(program))
    program.chmod(0o755 | stat.S_ISGID)
    assert "setgid" in cli._preload_warning(str(program))
    monkeypatch.undo()
    # Setuid to oneself changes nothing.
    assert cli._preload_warning(str(program)) is None


# ---- --env -------------------------------------------------------------------------------


def test_env_line_is_evaluable(lib):
    old = "/x/$HOME/it's here.so"   # quoting must survive $, ' and a space
    script = f'eval "$("{sys.executable}" -m hmm --env)"; printf "%s\\n" "$LD_PRELOAD"'
    p = subprocess.run(["sh", "-c", script], env=child_env(LD_PRELOAD=old),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"{lib}:{old}\n"


def test_env_output(lib, capsys, monkeypatch):
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    assert cli.main(["--env"]) == 0
    assert capsys.readouterr().out == f"export LD_PRELOAD={lib}\n"
    assert cli.main(["--env", "--stats-file", "/tmp/s %p"]) == 0
    assert capsys.readouterr().out == f"export LD_PRELOAD={lib}\nexport HMM_STATS='/tmp/s %p'\n"


# ---- usage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, complaint", [
    ([], "no program given"),
    (["--stats"], "no program given"),
    (["--bogus", "ls"], "unknown option --bogus"),
    (["--stats", "--stats-file", "x", "ls"], "only once"),
    (["--stats-file"], "needs a PATH"),
    (["--stats-file="], "needs a non-empty PATH"),
    (["--stats=1", "ls"], "takes no value"),
    (["--print-lib", "ls"], "take no program"),
])
def test_usage_errors(capsys, argv, complaint):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: hmm-run ")
    assert complaint in err


def test_help_and_version(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hmm-run [options] [--] program")
    for option in ("--stats", "--stats-file", "--print-lib", "--env", "--version"):
        assert option in out
    assert cli.main(["-h"]) == 0
    assert capsys.readouterr().out == out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == "hmm-run (hmm) 1.0.0\n"


def test_usage_error_subprocess():
    p = hmm_run()
    assert p.returncode == 2 and "no program given" in p.stderr


# ---- statistics ------------------------------------------------------------------------------


def test_stats_to_stderr():
    p = hmm_run("--stats", "ls", "/")
    assert p.returncode == 0, p.stderr
    report = hmm_stats.parse(p.stderr)
    assert report["alloc_calls"] > 0
    assert report["pid"] > 0
    assert report["free_calls"] > 0 and report["heap_size"] > 0
    assert "usr" in p.stdout.split()


def test_stats_lines_format():
    import re

    p = hmm_run("--stats", "ls", "/")
    lines = [line for line in p.stderr.splitlines() if line.startswith("hmm: ")]
    assert lines[0].startswith("hmm: pid ")
    assert re.fullmatch(r"hmm: policy [a-z-]+", lines[1])
    assert lines[2] == "hmm: check 0"
    assert all(re.match(STAT_LINE, line) for line in lines[:1] + lines[2:])
    assert any(re.match(r"^hmm: alloc_calls [1-9]\d*$", line) for line in lines)


def test_stats_file_is_made_absolute(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    assert cli.main(["--env", "--stats-file", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"export HMM_STATS={tmp_path / '1'}"


def test_stats_file_percent(tmp_path):
    """%% is a literal % in the template, in the library and in hmm-run."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hmm", "--stats-file", str(tmp_path / "100%%-%p.txt"), "ls", "/"],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert os.listdir(tmp_path) == [f"100%-{process.pid}.txt"]
    assert hmm_stats.read_file(tmp_path / f"100%-{process.pid}.txt")["pid"] == process.pid


def test_relative_stats_file_in_a_directory_named_with_percent(tmp_path, monkeypatch, capsys):
    cwd = tmp_path / "50%p off"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    assert cli.main(["--env", "--stats-file", "r-%p.txt"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        f"export HMM_STATS='{tmp_path}/50%%p off/r-%p.txt'")
    process = subprocess.Popen(
        [sys.executable, "-m", "hmm", "--stats-file", "r-%p.txt", "ls", "/"], cwd=cwd,
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert os.listdir(cwd) == [f"r-{process.pid}.txt"]


def test_run_collects_stats_under_a_tmpdir_named_with_percent(tmp_path, monkeypatch):
    tmpdir = tmp_path / "tmp%p%%"
    tmpdir.mkdir()
    monkeypatch.setattr(hmm.runner.tempfile, "tempdir", str(tmpdir))
    p = hmm.run(["ls", "/"], stats=True, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stats is not None and p.stats["pid"] == p.pid
    assert p.stats["alloc_calls"] > 0
    assert os.listdir(tmpdir) == []


def test_stats_file(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "hmm", "--stats-file", str(tmp_path / "%p.txt"), "ls", "/"],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "hmm: alloc_calls" not in err
    report = hmm_stats.read_file(tmp_path / f"{process.pid}.txt")
    assert report["pid"] == process.pid
    assert report["alloc_calls"] > 0


def test_run_collects_stats(monkeypatch):
    made = []
    real_mkdtemp = hmm.runner.tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(hmm.runner.tempfile, "mkdtemp", mkdtemp)
    p = hmm.run(["ls", "/"], stats=True, capture_output=True, text=True)
    assert isinstance(p, hmm.HmmProcess)
    assert p.returncode == 0 and "usr" in p.stdout.split()
    assert p.stats["alloc_calls"] > 0
    assert p.stats["pid"] == p.pid
    assert p.all_stats == [p.stats]
    assert len(made) == 1 and not os.path.exists(made[0])


CHILDREN = """
import os, subprocess, sys
subprocess.run(["ls", "/"], stdout=subprocess.DEVNULL, check=True)
subprocess.run(["ls", "/"], stdout=subprocess.DEVNULL, check=True)
pid = os.fork()
if pid == 0:
    sys.exit(0)          # a forked child that exits normally reports too
os.waitpid(pid, 0)
print(pid)
sys.exit(5)
"""


def test_run_stats_of_children():
    p = hmm.run([sys.executable, "-c", CHILDREN], stats=True, capture_output=True, text=True)
    assert p.returncode == 5, p.stderr
    pids = [s["pid"] for s in p.all_stats]
    assert len(pids) == len(set(pids)) == 4    # python, both ls, the fork
    assert int(p.stdout) in pids
    assert p.stats["pid"] == p.pid
    assert p.stats["alloc_calls"] > 0
    assert all(s["alloc_calls"] > 0 for s in p.all_stats)


def test_run_stats_of_a_program_that_skips_exit():
    # dash leaves through _exit(): no destructor runs, so no report; its
    # children (ls) exit normally and report.
    p = hmm.run(["sh", "-c", "ls / >/dev/null; exit 4"], stats=True)
    assert p.returncode == 4
    assert p.stats is None or p.stats["pid"] == p.pid
    assert any(s["pid"] != p.pid for s in p.all_stats)


def test_run_without_stats(lib):
    p = hmm.run(["sh", "-c", 'echo "$LD_PRELOAD"; echo "${HMM_STATS-unset}"'],
                capture_output=True, text=True, env=child_env(LD_PRELOAD="libc.so.6"))
    assert p.stdout == f"{lib}:libc.so.6\nunset\n"
    assert p.stats is None and p.all_stats == []


def test_run_passes_subprocess_options(tmp_path):
    p = hmm.run(["sh", "-c", "pwd; cat"], input=b"in\n", capture_output=True, cwd=tmp_path)
    assert p.stdout == f"{tmp_path}\nin\n".encode()
    with pytest.raises(subprocess.TimeoutExpired):
        hmm.run(["sleep", "10"], timeout=0.5, stats=True)


def test_run_check():
    with pytest.raises(subprocess.CalledProcessError) as excinfo:
        hmm.run([sys.executable, "-c", "import sys; sys.exit(3)"], stats=True, check=True)
    assert excinfo.value.returncode == 3
    assert excinfo.value.stats["alloc_calls"] > 0 and excinfo.value.stats["pid"] > 0
    assert excinfo.value.all_stats == [excinfo.value.stats]
    assert hmm.run(["true"], check=True).returncode == 0


def test_run_killed_program_has_no_stats():
    p = hmm.run(["sh", "-c", "kill -KILL $$"], stats=True)
    assert p.returncode == -signal.SIGKILL
    assert p.stats is None


def test_parse_stats_blob():
    blob = ("program output\n"
            "hmm: pid 10\nhmm: alloc_calls 5\nhmm: free_calls 4\n"
            "hmm: not a stat line\n"
            "hmm: Alloc_calls 9\n"
            "hmm: pid 11\r\nhmm: alloc_calls 7\r\n"
            "the end hmm: alloc_calls 100\n")
    assert hmm_stats.parse_all(blob) == [
        {"pid": 10, "alloc_calls": 5, "free_calls": 4},
        {"pid": 11, "alloc_calls": 7},
    ]
    assert hmm_stats.parse(blob, pid=11) == {"pid": 11, "alloc_calls": 7}
    assert hmm_stats.parse(blob, pid=12) == {}
    with pytest.raises(ValueError, match="pid"):
        hmm_stats.parse(blob)
    assert hmm_stats.parse("nothing here\n") == {}
    assert hmm_stats.parse("hmm: alloc_calls 3\n") == {"alloc_calls": 3}


def test_read_stats_dir(tmp_path):
    (tmp_path / "1.txt").write_text("hmm: pid 1\nhmm: alloc_calls 2\n")
    (tmp_path / "2.txt").write_text("hmm: pid 2\nhmm: alloc_calls 3\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "sub").mkdir()
    assert hmm_stats.read_dir(tmp_path) == [{"pid": 1, "alloc_calls": 2},
                                            {"pid": 2, "alloc_calls": 3}]


@pytest.mark.parametrize("options, level", [
    (["--check"], 1), (["--check=1"], 1), (["--check=2"], 2),
    (["--check", "1"], 1), (["--check", "2"], 2),
])
def test_check_option_runs_in_check_mode(options, level):
    p = hmm_run("--stats", *options, "ls", "/")
    assert p.returncode == 0, p.stderr
    report = hmm_stats.parse(p.stderr)
    assert report["check"] == level
    assert report["alloc_calls"] > 0
    # every call reaches the checks: no thread caches in check mode
    assert report["cached_blocks"] == 0
    assert "usr" in p.stdout.split()


@pytest.mark.parametrize("options", [["--check=0"], ["--check", "0"]])
def test_check_level_0_is_valid_and_off(options):
    p = hmm_run("--stats", *options, "ls", "/")
    assert p.returncode == 0, p.stderr
    report = hmm_stats.parse(p.stderr)
    assert report["check"] == 0
    assert report["alloc_calls"] > 0 and report["cached_blocks"] > 0
    assert "usr" in p.stdout.split()


@pytest.mark.parametrize("option", ["--check=3", "--check=x", "--check=", "--check=01"])
def test_check_option_levels_are_0_1_or_2(option, capsys):
    assert cli.main([option, "ls"]) == 2
    assert "the level is 0, 1 or 2" in capsys.readouterr().err


@pytest.mark.parametrize("argv, level, program", [
    (["--check", "2", "ls"], "2", ["ls"]),
    (["--check", "0", "--stats", "ls"], "0", ["ls"]),
    (["--check", "ls", "-l"], "1", ["ls", "-l"]),
    (["--check", "3", "x"], "1", ["3", "x"]),      # not a level: the program
    (["--check", "02", "x"], "1", ["02", "x"]),
    (["--check", "--", "2"], "1", ["2"]),         # a program named 2
    (["--check", "--stats", "2"], "1", ["2"]),
])
def test_check_level_as_next_argument_only_when_a_level(argv, level, program):
    options, rest = cli._parse(argv)
    assert (options["check"], rest) == (level, program)


def test_check_level_as_next_argument_runs_the_program_after_it(tmp_path):
    # The complaint was "2: command not found".
    p = hmm_run("--check", "2", "sh", "-c", 'echo "$HMM_CHECK $0"', "named")
    assert (p.returncode, p.stdout, p.stderr) == (0, "2 named\n", "")


@pytest.mark.parametrize("options, level", [(["--check=2"], "2"), (["--check", "0"], "0"),
                                            (["--check"], "1")])
def test_check_option_in_env_line(monkeypatch, capsys, options, level):
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    assert cli.main(["--env", *options]) == 0
    assert f"export HMM_CHECK={level}" in capsys.readouterr().out.splitlines()


def test_help_columns_line_up(capsys):
    assert cli.main(["--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    options = [line for line in lines if line.startswith("  -")]
    assert len(options) == 9
    column = len("  --stats-file PATH  ")
    for line in options:
        assert line[column - 2:column] == "  " and line[column] != " ", line
    first = lines.index(options[0])
    last = lines.index(options[-1])
    for line in lines[first:last + 1]:
        if not line.startswith("  -"):   # a continuation line
            assert line[:column].strip() == "" and line[column] != " ", line

