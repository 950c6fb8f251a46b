"""git under HMM: the same repository, commit for commit, as under glibc.

Author and committer dates are fixed, so the commit ids of the two
repositories are equal only if every object was written identically."""
import subprocess

import pytest

COMMIT_BASE = 1_500_000_000


def _git_env(support, home, step):
    date = f"{COMMIT_BASE + step * 3600} +0000"
    return support.base_env(
        HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
        GIT_AUTHOR_NAME="Ada Heap", GIT_AUTHOR_EMAIL="ada@example.org",
        GIT_COMMITTER_NAME="Bob Break", GIT_COMMITTER_EMAIL="bob@example.org",
        GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date,
        GIT_PAGER="cat", PAGER="cat", LC_ALL="C", TZ="UTC",
        GIT_TERMINAL_PROMPT="0")


def _write_files(root, version):
    """Version 0 creates a small source tree; later versions edit it."""
    src = root / "src"
    src.mkdir(exist_ok=True)
    for i in range(40):
        lines = [f"/* file {i}, version {version} */"]
        lines += [f"int f{i}_{j}(int x) {{ return x * {j + version} + {i}; }}" for j in range(60)]
        if version and i % 4 == version % 4:
            lines.insert(10, f"/* edited in version {version} */")
        (src / f"f{i}.c").write_text("\n".join(lines) + "\n")
    (root / "README").write_text(f"readme at version {version}\n" * (version + 1))
    if version == 2:
        (src / "f3.c").rename(src / "renamed3.c")
        (src / "f5.c").unlink()


class Repos:
    """Two repositories, one driven under glibc and one under HMM."""

    def __init__(self, tmp_path, run_both, same, served, support):
        self.git = support.require_program("git")
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.dirs = (tmp_path / "glibc", tmp_path / "hmm")
        for d in self.dirs:
            d.mkdir()
        self.run_both, self.same, self.served, self.support = run_both, same, served, support
        self.step = 0
        self.hmm_processes = 0

    def edit(self, version):
        for d in self.dirs:
            _write_files(d, version)

    def __call__(self, *args, allocs=20, compare=lambda out: out):
        self.step += 1
        both = self.run_both([self.git, *args], workdir=self.dirs, text=True,
                             env=_git_env(self.support, self.home, self.step),
                             stdin=subprocess.DEVNULL)
        self.same(both, stdout=False)
        assert compare(both.hmm.stdout) == compare(both.glibc.stdout), (
            f"git {' '.join(args)}: output differs under HMM")
        assert both.glibc.returncode == 0, (args, both.glibc.stderr)
        self.served(both.hmm, min_allocs=allocs)
        self.hmm_processes += len(both.hmm.all_stats)
        return both.hmm


@pytest.fixture
def repos(tmp_path, run_both, same, served, support):
    return Repos(tmp_path, run_both, same, served, support)


def test_git_history_same_as_glibc(repos):
    git = repos
    git("init", "-q", "-b", "main", ".")
    git.edit(0)
    git("add", "-A")
    git("commit", "-q", "-m", "first: a small source tree")
    for version in (1, 2, 3):
        git.edit(version)
        git("add", "-A")
        git("commit", "-q", "-m", f"version {version}\n\nEdits for version {version}.")

    git("checkout", "-q", "-b", "feature", "HEAD~2")
    (git.dirs[0] / "feature.txt").write_text("feature\n" * 100)
    (git.dirs[1] / "feature.txt").write_text("feature\n" * 100)
    git("add", "feature.txt")
    git("commit", "-q", "-m", "feature work")
    git("checkout", "-q", "main")
    git("merge", "-q", "--no-edit", "feature")

    head = git("rev-parse", "HEAD").stdout.strip()
    assert len(head) == 40

    log = git("log", "--stat", "--format=fuller", "--graph", "--all")
    assert "Merge branch 'feature'" in log.stdout
    assert "renamed3.c" in log.stdout
    diff = git("diff", "HEAD~3", "HEAD")
    assert "edited in version" in diff.stdout
    git("diff", "--stat", "-M", "HEAD~2", "HEAD")
    git("show", "--format=raw", "HEAD~1")
    git("blame", "-s", "src/f2.c")
    git("ls-tree", "-r", "-l", "HEAD")

    # gc runs a family of git processes (pack-refs, reflog, repack,
    # pack-objects, prune...); each must be under HMM as well.
    gc = git("gc", "-q", "--aggressive", "--prune=now")
    assert len(gc.all_stats) >= 3, f"only {len(gc.all_stats)} git processes wrote stats"
    def object_counts(out):
        # Pack sizes depend on delta choices made by threads; counts do not.
        return [line for line in out.splitlines()
                if line.startswith(("count:", "in-pack:", "packs:", "garbage:"))]

    counts = object_counts(git("count-objects", "-v", compare=object_counts).stdout)
    assert "count: 0" in counts and "packs: 1" in counts, counts
    git("fsck", "--full", "--strict")
    after = git("log", "--format=%H %s", "--all", "--topo-order")
    assert after.stdout.splitlines()[0].startswith(head)
    git("cat-file", "-p", "HEAD^{tree}")
    assert git.hmm_processes >= 30
