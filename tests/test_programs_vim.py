"""vim under HMM: scripted in Ex mode, and typed at in a pseudo-terminal."""
import re
import subprocess
import time

import pexpect

import hmm

VIM_FLAGS = ["-u", "NONE", "-i", "NONE", "-N"]


def _shuffled_lines(count=2000):
    # A fixed permutation (no random module: the order is part of the test).
    order = [(i * 7919) % count for i in range(count)]
    return [f"item {i:04d} foo value foo {i * 37 % 1000}" for i in order]


def _expected_after_script(lines):
    """What the Ex script below does, computed in Python."""
    lines = [line.replace("foo", "bar") for line in lines]        # %s/foo/bar/g
    lines = [line for line in lines if not line.startswith("item 1")]  # g/^item 1/d
    lines += [f"appended {n}" for n in range(1, 300)]            # append()
    lines.sort()                                                 # sort
    lines = [re.sub(r"(\d+)$", r"<\1>", line) for line in lines]  # %s/\v(\d+)$/<\1>/
    return lines


EX_SCRIPT = [
    "%s/foo/bar/g",
    "g/^item 1/d",
    "call append('$', map(range(1, 299), '\"appended \" . v:val'))",
    "sort",
    r"%s/\v(\d+)$/<\1>/",
    "wq",
]


def test_vim_ex_mode_edits_same_as_glibc(tmp_path, run_both, same, served, support):
    vim = support.require_program("vim")
    original = _shuffled_lines()
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("\n".join(original) + "\n")

    argv = [vim, *VIM_FLAGS, "-es"]
    for command in EX_SCRIPT:
        argv += ["-c", command]
    both = run_both(argv + ["notes.txt"], workdir=work, stdin=subprocess.DEVNULL,
                    env=support.base_env(TERM="dumb"))
    same(both)
    assert both.glibc.returncode == 0, both.glibc.stderr

    under_glibc = (both.glibc.cwd / "notes.txt").read_text()
    under_hmm = (both.hmm.cwd / "notes.txt").read_text()
    assert under_hmm == under_glibc
    assert under_hmm.splitlines() == _expected_after_script(original)
    assert "foo" not in under_hmm and "<" in under_hmm
    served(both.hmm, min_allocs=100)


def test_vim_interactive_in_a_terminal(tmp_path, libhmm, support):
    vim = support.require_program("vim")
    stats_dir = tmp_path / "stats"
    stats_dir.mkdir()
    env = hmm.preload_env(support.base_env(
        TERM="xterm", HMM_STATS=str(stats_dir / "%p.txt"), LC_ALL="C.UTF-8"))
    assert env["LD_PRELOAD"].split(":")[0] == str(libhmm)

    child = pexpect.spawn(vim, [*VIM_FLAGS, "typed.txt"], cwd=str(tmp_path), env=env,
                          dimensions=(24, 80), timeout=30, encoding="utf-8",
                          codec_errors="replace")
    try:
        # vim announces a new file on its last line once it is ready for keys.
        child.expect_exact("[New", timeout=30)
        typed = ["Heap Memory Manager", "typed into vim under HMM", "third line, été"]
        child.send("i")
        child.expect_exact("-- INSERT --", timeout=30)  # 'showmode' is on with -N
        for line in typed:
            child.send(line + "\r")
            time.sleep(0.05)
        child.send("\x1b")
        time.sleep(0.5)           # let vim leave insert mode before the next keys
        child.send("ggyyGp")      # copy the first line to the end
        time.sleep(0.2)
        child.send(":%s/HMM/hmm/g\r")
        time.sleep(0.2)
        child.send(":wq\r")
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, f"vim exited with {child.exitstatus}, signal {child.signalstatus}"

    text = (tmp_path / "typed.txt").read_text()
    # The last Enter left an empty line; "ggyyGp" put the first line after it.
    expected = ["Heap Memory Manager", "typed into vim under hmm", "third line, été", "",
                "Heap Memory Manager"]
    assert text.splitlines() == expected, text

    reports = support.read_stats_dir(stats_dir)
    assert reports, "vim wrote no HMM stats: libhmm.so was not in use"
    top = max(reports, key=lambda r: r.get("alloc_calls", 0))
    assert top["alloc_calls"] > 100, top
    assert top.get("failed_calls", 0) == 0, top
