"""The HMM_* options have one table (csrc/options.h): name, default, meaning.

The core hands it to Python (`hmm.OPTIONS`), and everything else that
names a default takes it from there or is held to it here: the heap's
own defaults (what a program gets with the variable unset), hmm-run's
help, and the README's options table.
"""
import inspect
import re
from pathlib import Path

import pytest

import hmm
from hmm import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def default(name):
    return next(option.default for option in hmm.OPTIONS if option.name == name)


def size(text):
    """An option's size value, as the library reads it (k, m, g: powers of 1024)."""
    match = re.fullmatch(r"(\d+)([kmg]?)", text, re.IGNORECASE)
    assert match, f"{text!r} is not a size"
    return int(match[1]) << {"": 0, "k": 10, "m": 20, "g": 30}[match[2].lower()]


def test_the_table_names_every_option_once_with_a_default_and_a_meaning():
    names = [option.name for option in hmm.OPTIONS]
    assert len(names) == len(set(names)) >= 8
    for option in hmm.OPTIONS:
        assert option.name.startswith("HMM_") and option.default and option.meaning, option
        # A meaning that says its own default would be a second place for it.
        assert "default" not in option.meaning, option


@pytest.mark.parametrize("name", ["HMM_TCACHE", "HMM_MMAP_THRESHOLD", "HMM_TRIM_THRESHOLD",
                                  "HMM_TOP_PAD", "HMM_TRIM_DELAY", "HMM_CHECK_EVERY"])
def test_size_defaults_are_sizes(name):
    assert size(default(name)) > 0


def test_readme_options_table_is_the_cores():
    """Names in the core's order, and each default as the core has it (the
    README may add words after it, as ", adaptive")."""
    text = README.read_text()
    section = text[text.index("### Options (environment)"):]
    section = section[:section.index("\n\n", section.index("| variable |"))]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `HMM_")]
    readme = [(row[0].strip("| `"), re.match(r"`([^`]*)`", row[1])[1]) for row in rows]
    assert readme == [(option.name, option.default) for option in hmm.OPTIONS]


def test_help_lists_every_option_with_its_default(capsys):
    assert cli.main(["--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for option in hmm.OPTIONS:
        assert f"  {option.name}={option.default}" in lines


def test_the_default_policy_is_the_tables():
    assert hmm.POLICIES[0] == default("HMM_POLICY")
    assert hmm.Heap(1 << 20).policy == default("HMM_POLICY")
    assert inspect.signature(hmm.Heap).parameters["policy"].default == default("HMM_POLICY")


def calls_until_the_heap_check(**check_every):
    """Check mode 2 on a heap with one write after free in it: the number of
    calls until the periodic whole-heap check reports it."""
    heap = hmm.Heap(1 << 20, check=2, **check_every)
    a = heap.alloc(100)
    heap.alloc(100)                      # keeps a off the top
    heap.free(a)
    heap.scribble(a + 40, b"!")
    calls = 3
    while calls < 1 << 20:
        try:
            b = heap.alloc(20000)
            calls += 1
            heap.free(b)
            calls += 1
        except hmm.HeapError as exc:
            assert exc.fault == "heap_check", str(exc)
            return calls + 1
    raise AssertionError("the whole-heap check never ran")


def test_check_every_default_is_the_tables():
    assert calls_until_the_heap_check(check_every=7) == 7
    assert calls_until_the_heap_check() == size(default("HMM_CHECK_EVERY"))


@pytest.mark.parametrize("env", [{}, {"HMM_TCACHE": "5", "HMM_MMAP_THRESHOLD": "512k"}],
                         ids=["defaults", "set"])
def test_tcache_and_mmap_threshold_defaults_are_the_tables(compile_c, run_both, support, env):
    """With the variables unset, the thread cache parks the table's number
    of blocks of one size and not one more, and a block of the table's
    threshold gets a mapping of its own while one a page smaller does not;
    set, the values set count."""
    limit = size(env.get("HMM_TCACHE", default("HMM_TCACHE")))
    threshold = size(env.get("HMM_MMAP_THRESHOLD", default("HMM_MMAP_THRESHOLD")))
    exe = compile_c("option_defaults.c")
    cached = []
    for blocks in (limit, limit + 1):
        both = run_both([str(exe), str(blocks), str(threshold)], text=True,
                        env=support.base_env(**env))
        support.assert_same(both)
        assert both.hmm.stdout == "ok\n"
        stats = support.assert_served(both.hmm, min_allocs=blocks)
        assert stats["mapped_blocks"] == 1, stats
        cached.append(stats["cached_blocks"])
    # One more than the limit does not fit: the cache gives some back.
    assert cached[0] == limit and cached[1] <= limit, cached
