"""Real programs in check mode (HMM_CHECK): the same output as under glibc,
no report (a correct program must never trip a check), and no great slowdown:
every call goes through the checks, so a check that costs O(heap) per call
shows up here as a timeout.  The stats prove check mode was on."""
import re

import pytest

PYTHON_WORK = """
import json, random
rng = random.Random(7)
table = {f"key{i}": [i, str(i) * 3, {"n": i}] for i in range(30000)}
text = json.dumps(table, sort_keys=True)
assert json.loads(text) == table
blob = bytearray()
for i in range(5000):
    blob += bytes([i % 256]) * (i % 97)
words = sorted(str(rng.random()) for _ in range(50000))
print(len(text), len(blob), words[0], words[-1])
"""

PROGRAMS = {
    "python3": lambda s: ([s.require_program("python3"), "-S", "-c", PYTHON_WORK], {"PYTHONMALLOC": "malloc"}),
    "sort": lambda s: ([s.require_program("sort"), "-r", str(s.ROOT / "README.md")], {"LC_ALL": "C"}),
    "perl": lambda s: ([s.require_program("perl"), "-e",
                        'my %h; $h{$_} = [($_) x 5] for 1 .. 50000; '
                        'my $s = join ",", map { scalar @{$h{$_}} } sort keys %h; print length($s), "\\n"'], {}),
    "git": lambda s: ([s.require_program("git"), "-C", str(s.ROOT), "log", "-3", "--stat", "--format=%H"], {}),
}


@pytest.mark.parametrize("level", ["1", "2"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_in_check_mode_same_as_glibc(name, level, run_both, same, served, support):
    argv, env = PROGRAMS[name](support)
    both = run_both(argv, text=True, timeout=120,
                    env=support.base_env(HMM_CHECK=level, HMM_CHECK_EVERY="2000", **env))
    same(both)
    reports = [line for line in both.hmm.stderr.splitlines() if re.match(r"hmm: \w+\(\): ", line)]
    assert reports == [], both.hmm.stderr
    stats = served(both.hmm)
    assert stats["check"] == int(level), stats
