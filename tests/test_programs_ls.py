"""ls under HMM: the same listing as under glibc, byte for byte."""
import os

import pytest


# A fixed clock for the tree, so two listings of it can only differ through
# the allocator.  All dates are years old: ls shows the year, not the time.
EPOCH = 1_300_000_000


def _make_tree(root, dirs=30, subdirs=6, files=14):
    """About 2,700 files, 210 directories and a few symlinks under root."""
    stamp = EPOCH
    made = []
    for d in range(dirs):
        top = root / f"dir-{d:03d}"
        top.mkdir()
        made.append(top)
        for s in range(subdirs):
            sub = top / (f"sub {s}" if s % 3 == 0 else f"sub-{s}.d")
            sub.mkdir()
            made.append(sub)
            for f in range(files):
                name = ["file", "data", "Notes", "été", "x"][f % 5] + f"_{d}_{s}_{f}"
                path = sub / (name + [".txt", ".c", ".tar.gz", "", ".sh"][f % 5])
                path.write_bytes(b"x" * ((d * 131 + s * 17 + f * 7) % 3000))
                if f % 5 == 4:
                    path.chmod(0o755)
                elif f % 7 == 3:
                    path.chmod(0o600)
                made.append(path)
            link = sub / "link-to-first"
            link.symlink_to(f"file_{d}_{s}_0.txt")
            dangling = sub / "dangling"
            dangling.symlink_to("nowhere")
            for ln in (link, dangling):
                os.utime(ln, (EPOCH, EPOCH), follow_symlinks=False)
    # Children first, so setting a file's time cannot disturb its directory's.
    for path in reversed(made):
        stamp += 3_607
        os.utime(path, (stamp, stamp))
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    _make_tree(root)
    os.utime(root, (EPOCH, EPOCH))
    return root


LS_ARGS = [
    pytest.param(["-l"], 100, id="ls-l"),
    pytest.param(["-lR"], 1000, id="ls-lR"),
    pytest.param(["--color=always", "-lR"], 1000, id="ls-color-lR"),
    pytest.param(["-laRi", "--full-time", "--sort=size"], 1000, id="ls-laRi-size"),
]


@pytest.mark.parametrize("args, min_allocs", LS_ARGS)
def test_ls_tree_same_as_glibc(tree, run_both, same, served, support, args, min_allocs):
    ls = support.require_program("ls")
    env = support.base_env(LC_ALL="C.UTF-8", TZ="UTC")
    both = run_both([ls, *args, "."], cwd=tree, env=env)
    same(both)
    assert both.glibc.returncode == 0
    out = both.hmm.stdout.decode()
    assert "dir-029" in out
    if "R" in args[-1]:
        assert "file_29_5_10.txt" in out and "été_3_2_3" in out
        assert out.count("\n") > 2500, "the recursive listing is too short"
    if "--color=always" in args:
        assert "\x1b[" in out, "no colour escapes in a --color=always listing"
    stats = served(both.hmm, min_allocs=min_allocs)
    assert stats["peak_bytes_in_use"] > 4096


def test_ls_usr_bin_same_as_glibc(run_both, same, served, support):
    ls = support.require_program("ls")
    env = support.base_env(LC_ALL="C.UTF-8", TZ="UTC")
    both = run_both([ls, "-l", "/usr/bin"], env=env)
    same(both)
    assert both.glibc.returncode == 0
    assert both.hmm.stdout.count(b"\n") > 100
    served(both.hmm, min_allocs=100)
