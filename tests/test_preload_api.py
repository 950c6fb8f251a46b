"""The libc surface of libhmm.so, seen by a real program that preloads it."""
import os
import re
import subprocess

import pytest

import hmm

EXPORTED = [
    "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size", "cfree",
    "free_sized", "free_aligned_sized", "__libc_malloc", "__libc_free", "__libc_calloc",
    "__libc_realloc", "__libc_memalign", "__libc_valloc", "__libc_pvalloc",
    "__posix_memalign", "mallinfo", "mallinfo2", "malloc_stats", "malloc_trim",
    "HmmAlloc", "HmmFree", "HmmRealloc", "HmmCalloc",
]

# Every check preload_api.c makes; a check that silently stopped being made
# is a failure too.
CHECKS = [
    "malloc_zero_unique", "realloc_zero_returns_null", "realloc_null_allocates", "free_null",
    "malloc_size_max_enomem", "malloc_ptrdiff_max_plus_one_enomem", "calloc_overflow_enomem",
    "reallocarray_overflow_enomem", "realloc_size_max_enomem_keeps_block",
    "posix_memalign_bad_alignment_einval", "aligned_alloc_bad_alignment_einval",
    "aligned_results_aligned_16_to_65536", "valloc_page_aligned",
    "pvalloc_page_aligned_and_rounded", "free_preserves_errno",
    "usable_size_at_least_request", "malloc_results_16_aligned", "usable_size_null_zero",
    "realloc_keeps_contents", "calloc_zeroes_reused_memory", "mallinfo2_uordblks_grows",
    "mallinfo_counts_use", "mallinfo2_uordblks_shrinks", "malloc_trim_returns_0_or_1",
    "libc_names_share_one_heap", "hmm_alloc_zero_returns_null", "hmm_free_null_returns",
    "hmm_realloc_null_allocates", "hmm_realloc_keeps_contents", "hmm_calloc_zeroes",
    "hmm_api_and_malloc_share_one_heap",
]

FIRST_MODES = ["calloc", "realloc", "memalign", "posix_memalign", "aligned_alloc",
               "valloc", "free", "malloc"]


@pytest.fixture(scope="module")
def preload_api(compile_c):
    # -O0 -fno-builtin: every call must reach the allocator, even impossible ones.
    return compile_c("preload_api.c", "-O0", "-fno-builtin")


def _run(argv, support, **kw):
    kw.setdefault("env", support.base_env())
    return hmm.run([str(a) for a in argv], capture_output=True, text=True,
                   timeout=support.TIMEOUT, **kw)


def test_every_name_resolves_into_libhmm(preload_api, libhmm, support):
    proc = _run([preload_api, "symbols", *EXPORTED], support)
    assert proc.returncode == 0, proc.stderr
    where = dict(line.split(" ", 2)[1:] for line in proc.stdout.splitlines()
                 if line.startswith("symbol "))
    assert sorted(where) == sorted(EXPORTED)
    real = os.path.realpath(libhmm)
    wrong = {name: path for name, path in where.items() if path != real}
    assert not wrong, f"these names do not resolve into {real}: {wrong}"


def test_glibc_semantics(preload_api, support):
    proc = _run([preload_api, "semantics"], support, stats=True)
    results = dict(re.findall(r"^check (\S+) (ok|FAIL.*)$", proc.stdout, re.M))
    failed = {name: why for name, why in results.items() if why != "ok"}
    assert not failed, f"checks failed under HMM: {failed}\nstderr: {proc.stderr}"
    missing = [name for name in CHECKS if name not in results]
    assert not missing, f"checks that did not run: {missing}\n{proc.stdout}{proc.stderr}"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failures 0" in proc.stdout
    # Not assert_served: the impossible requests must fail, and be counted.
    stats = proc.stats
    assert stats, "no HMM stats: the program was not served by HMM"
    assert stats["alloc_calls"] > 5000, stats
    assert stats["memalign_calls"] > 0 and stats["calloc_calls"] > 0, stats
    assert stats["realloc_calls"] > 0 and stats["free_calls"] > 5000, stats
    assert stats["failed_calls"] > 0, stats


def test_malloc_stats_prints_to_stderr(preload_api, support):
    proc = _run([preload_api, "malloc_stats"], support)
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert proc.stderr.strip(), "malloc_stats() printed nothing on stderr"


def test_no_python_symbols_needed(libhmm, support):
    nm = support.require_program("nm")
    undefined = subprocess.run([nm, "-D", "--undefined-only", str(libhmm)], capture_output=True,
                               text=True, timeout=support.TIMEOUT, check=True).stdout
    python = [line for line in undefined.splitlines() if "Py" in line.split()[-1]]
    assert not python, f"libhmm.so needs Python symbols: {python}"


def test_needs_only_libc(libhmm, support):
    readelf = support.require_program("readelf")
    dynamic = subprocess.run([readelf, "-d", str(libhmm)], capture_output=True, text=True,
                             timeout=support.TIMEOUT, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)
    assert "libc.so.6" in needed
    extra = [n for n in needed if n != "libc.so.6" and not n.startswith("ld-linux")]
    assert not extra, f"libhmm.so needs more than libc: {needed}"
    search_paths = re.findall(r"\((?:RPATH|RUNPATH)\).*", dynamic)
    assert not search_paths, f"libhmm.so embeds a library search path: {search_paths}"


def test_bind_now_runs_ls(support, served):
    ls = support.require_program("ls")
    env = support.base_env(LD_BIND_NOW="1", LC_ALL="C")
    plain = subprocess.run([ls, "-la", "/usr/bin"], capture_output=True, text=True, env=env,
                           timeout=support.TIMEOUT)
    proc = _run([ls, "-la", "/usr/bin"], support, env=env, stats=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == plain.stdout
    served(proc, min_allocs=10)


@pytest.mark.parametrize("mode", FIRST_MODES)
def test_first_allocation_from_a_constructor(compile_c, support, mode):
    exe = compile_c("first_alloc.c", "-O0", "-fno-builtin")
    proc = _run([exe], support, env=support.base_env(FIRST_ALLOC_MODE=mode), stats=True)
    assert proc.stdout == f"first {mode} ok\n", proc.stdout + proc.stderr
    assert proc.returncode == 0
    assert proc.stats, "no HMM stats: the program was not served by HMM"
    counter = {"calloc": "calloc_calls", "realloc": "realloc_calls", "memalign": "memalign_calls",
               "posix_memalign": "memalign_calls", "aligned_alloc": "memalign_calls",
               "valloc": "memalign_calls", "free": "alloc_calls", "malloc": "alloc_calls"}[mode]
    assert proc.stats[counter] >= 1, proc.stats
    assert proc.stats["failed_calls"] == 0


@pytest.mark.parametrize("mode", FIRST_MODES)
def test_first_allocation_before_libhmm_constructor(compile_c, support, mode):
    """A library preloaded after libhmm.so is initialised before it: its
    constructor's call reaches HMM before HMM's own constructor has run."""
    lib = compile_c("first_alloc.c", "-O0", "-fno-builtin", "-shared", "-fPIC", "-DAS_LIBRARY")
    true = support.require_program("true")
    env = support.base_env(FIRST_ALLOC_MODE=mode, LD_PRELOAD=str(lib))
    proc = _run([true], support, env=env, stats=True)
    # hmm.run put libhmm.so first and kept our library after it.
    assert proc.stdout == f"first {mode} ok\n", proc.stdout + proc.stderr
    assert proc.returncode == 0
    assert proc.stats and proc.stats["failed_calls"] == 0, proc.stats


def test_peak_bytes_in_use_is_a_real_peak(compile_c, support):
    """peak_bytes_in_use is the highest bytes_in_use: a program that never
    holds more than about 10 KB must not report the whole first heap grow."""
    exe = compile_c("first_alloc.c", "-O0", "-fno-builtin")
    proc = _run([exe], support, env=support.base_env(FIRST_ALLOC_MODE="malloc"), stats=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats = proc.stats
    # first_alloc holds at most malloc(1000) and then realloc(.., 10000).
    assert stats["peak_bytes_in_use"] <= 10000 + 1000 + 256, stats
    assert stats["peak_bytes_in_use"] >= 10000, stats
    assert stats["peak_bytes_in_use"] <= stats["peak_heap_size"], stats
