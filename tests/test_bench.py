"""The benchmark (`hmm-run bench`): its arithmetic, its failure path, and a
smoke run in quick mode.

Nothing here asserts a speed: the machine is shared and noisy, and the
benchmark exists to measure, not to pass or fail on a figure.
"""
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hmm
from hmm.bench import allocators as bench_allocators
from hmm.bench import measure, micro, scaling, statistics
from hmm.bench.harness import Bench, Setup
from hmm.bench.workloads import Command, Workload, all_workloads

PACKAGE_PARENT = Path(hmm.__file__).resolve().parent.parent
SOURCES = PACKAGE_PARENT / "benchmarks"


def bench_env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "HMM_STATS", "HMM_POLICY", "PYTHONMALLOC")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")) if p)
    return env


# ---- the statistics -----------------------------------------------------------


def test_median():
    assert statistics.median([3]) == 3
    assert statistics.median([5, 1, 3]) == 3
    assert statistics.median([4, 1, 3, 2]) == 2.5
    assert statistics.median((1.0, 1.0, 9.0)) == 1.0
    with pytest.raises(ValueError):
        statistics.median([])


def test_paired_ratios_pair_the_same_rounds():
    hmm_times = {1: 2.0, 2: 3.0, 3: 4.0}
    glibc_times = {1: 1.0, 2: 2.0, 3: 8.0}
    assert statistics.paired_ratios(hmm_times, glibc_times) == [2.0, 1.5, 0.5]
    assert statistics.paired_ratio(hmm_times, glibc_times) == 1.5


def test_paired_ratio_is_not_the_ratio_of_medians():
    # Round 3 was slow for everybody: pairing cancels it.
    a = {1: 1.1, 2: 1.1, 3: 5.5}
    base = {1: 1.0, 2: 1.0, 3: 5.0}
    assert statistics.paired_ratio(a, base) == pytest.approx(1.1)


def test_paired_ratio_skips_unpaired_rounds():
    # Round 2 failed under glibc, round 4 under the other allocator.
    assert statistics.paired_ratios({1: 3.0, 2: 9.0, 3: 2.0}, {1: 1.0, 3: 2.0, 4: 1.0}) == [3.0, 1.0]
    assert statistics.paired_ratio({1: 1.0}, {2: 1.0}) is None
    assert statistics.paired_ratio({1: 1.0}, {1: 0}) is None


def test_geometric_mean():
    assert statistics.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert statistics.geometric_mean([1, 2, 4]) == pytest.approx(2.0)
    assert statistics.geometric_mean([1.21]) == pytest.approx(1.21)
    assert statistics.geometric_mean([]) is None
    with pytest.raises(ValueError):
        statistics.geometric_mean([1.0, 0.0])


def test_instructions_per_operation():
    # Start-up and set-up (1,000,000) cancel; 100 per operation is left.
    n = 5000
    assert micro.per_operation(1_000_000 + 100 * n * 64, 1_000_000 + 100 * 2 * n * 64,
                               n, 64) == pytest.approx(100)
    text = b"events: Ir\nsummary: 123456\n"
    assert int(micro.TOTALS.search(text).group(1)) == 123456
    assert int(micro.TOTALS.search(b"fn=main\n0 5\ntotals: 987\n").group(1)) == 987


def test_find_library_globs_the_multiarch_dirs(tmp_path):
    lib = tmp_path / "x86_64-linux-gnu" / "libfake.so.1"
    lib.parent.mkdir()
    shutil.copyfile(hmm.library_path(), lib)
    pattern = str(tmp_path / "*-linux-*")
    assert bench_allocators.find_library("libfake.so.1", dirs=(pattern,),
                                         reference=hmm.library_path()) == str(lib)
    assert bench_allocators.find_library("libnone.so", dirs=(pattern,)) is None


# ---- the stress programs -----------------------------------------------------------

STRESS = [w for w in all_workloads() if w.kind == "stress"]
NEW_STRESS = ("server", "fifo_lifo", "fifo_lifo_mt", "exchange", "aligned_mt")


@pytest.fixture(scope="module")
def stress_binaries(tmp_path_factory):
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build the stress programs"
    return measure.compile_dir(gcc, SOURCES / "stress", tmp_path_factory.mktemp("stress"))


def test_every_stress_program_is_registered(stress_binaries):
    assert sorted(stress_binaries) == sorted(w.name for w in STRESS)
    assert set(NEW_STRESS) <= set(stress_binaries)


@pytest.mark.parametrize("name,threads", [(n, None) for n in NEW_STRESS]
                         + [("server", 1), ("server", 3)])
def test_stress_checksum_is_the_same_under_glibc_and_hmm(name, threads, stress_binaries,
                                                          run_both, served, same):
    """What a stress program prints depends on its scale (and thread count)
    alone: twice under glibc and under HMM (which served it), the same line.
    The benchmark relies on it to compare every allocator's output."""
    (workload,) = [w for w in STRESS if w.name == name]
    argv = [str(stress_binaries[name]), str(workload.sizes[1])]
    if threads:
        argv.append(str(threads))
    both = run_both(argv, text=True)
    same(both)
    assert both.glibc.returncode == 0, both.glibc.stderr
    served(both.hmm, min_allocs=workload.sizes[1])
    again = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert again.stdout == both.glibc.stdout
    assert both.glibc.stdout.startswith(f"{name}: checksum 0x")


def test_server_checksum_depends_on_the_thread_count(stress_binaries):
    """Each worker seeds its own generator: another thread count is other
    work (the scaling table compares like with like, thread count by thread
    count)."""
    server = str(stress_binaries["server"])
    lines = {subprocess.run([server, "500", str(t)], capture_output=True, text=True,
                            timeout=60).stdout for t in (1, 2)}
    assert len(lines) == 2


# ---- thread scaling ----------------------------------------------------------------


def test_scaling_variants_pass_the_thread_count():
    (server,) = [w for w in STRESS if w.name == "server"]
    assert server.threaded
    variants = scaling.variants(server, (1, 4))
    assert [v.name for v in variants] == ["server@1", "server@4"]
    ctx = type("Ctx", (), {"binaries": {"server": "/bin/server"}, "size": 10})()
    assert variants[1].command(ctx).argv == ["/bin/server", "10", "4"]


def test_scaling_throughput_table_shape():
    def entry(median, ratio):
        return {"wall": {"median": median, "ratio": ratio}}
    results = {"server@1": {"glibc": entry(2.0, 1.0), "hmm": entry(1.0, 0.5)},
               "server@2": {"glibc": entry(4.0, 1.0), "hmm": {"wall": {"median": None,
                                                                          "ratio": None}}}}
    table = scaling.throughput(results, "server", [1, 2], ["glibc", "hmm"], 1000)
    assert table["per_second"] == {"glibc": [500.0, 250.0], "hmm": [1000.0, None]}
    assert table["speed_vs_glibc"]["hmm"] == [2.0, None]
    lines = scaling.markdown(table).splitlines()
    assert lines[0] == "| threads | glibc | hmm |"
    assert len(lines) == 2 + 2
    assert lines[2].startswith("| 1 | 0 k/s | 1 k/s ×2.00")
    assert lines[3].endswith("| failed |")


def test_scaling_of_a_workload_without_threads_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "hmm", "bench", "--scaling", "churn"],
                          env=bench_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "churn takes no thread count" in proc.stderr


def test_scaling_run_writes_the_table_and_the_plot(tmp_path):
    """A tiny scaling run: a row per thread count, a column per allocator,
    every cell a throughput, and a PNG file (no figure is asserted)."""
    png, json_path = tmp_path / "scaling.png", tmp_path / "scaling.json"
    proc = subprocess.run(
        [sys.executable, "-m", "hmm", "bench", "--quick", "--scaling", "server",
         "--threads", "1,2", "--allocators", "glibc,hmm", "--plot", str(png),
         "--json", str(json_path)],
        env=bench_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    data = json.loads(json_path.read_text())
    table = data["scaling"]
    assert table["threads"] == [1, 2]
    assert table["allocators"] == ["glibc", "hmm"]
    for name in ("glibc", "hmm"):
        assert len(table["per_second"][name]) == 2
        assert all(v > 0 for v in table["per_second"][name])
    assert [r["workload"] for r in data["runs"]] == ["server@1"] * 2 + ["server@2"] * 2
    assert "## Thread scaling: server" in proc.stdout
    rows = [line for line in proc.stdout.split("## Thread scaling")[1].splitlines()
            if line.startswith("| ")]
    assert rows[0] == "| threads | glibc | hmm |"
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["1", "2"]
    assert png.stat().st_size > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- the harness ----------------------------------------------------------------


def test_a_run_whose_output_differs_fails(tmp_path):
    """A run that prints something else than glibc's run is a failure, with
    a message that says where the outputs part."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build the benchmark's helper"
    helper = measure.compile_program(gcc, SOURCES / "tools" / "measure.c", tmp_path / "measure")
    glibc = bench_allocators.Allocator("glibc", kind="glibc")
    under_hmm = bench_allocators.Allocator("hmm", hmm.library_path(), kind="hmm")
    says_preload = Workload("preload", "program", "prints its LD_PRELOAD", (1, 1),
                            command=lambda ctx: Command(
                                ["sh", "-c", 'echo "${LD_PRELOAD:-none}"']))
    stable = Workload("stable", "program", "prints the same under all", (1, 1),
                      command=lambda ctx: Command(["sh", "-c", "echo same"]))
    setup = Setup(tmp_path / "work", SOURCES, [glibc, under_hmm], [says_preload, stable],
                  {}, {}, helper, rounds=2, quick=True, scale=1.0, timeout=60,
                  log=io.StringIO())
    bench = Bench(setup)
    bench.prepare()
    bench.warm_up()
    bench.rounds()
    failed = [r for r in bench.runs if not r.ok]
    assert {(r.workload, r.allocator) for r in failed} == {("preload", "hmm")}
    assert all("output differs from glibc's" in r.error for r in failed)
    assert "line 1" in failed[0].error and "none" in failed[0].error
    assert len(bench.failures) == 2
    results, geomean = bench.summarise()
    assert results["stable"]["hmm"]["wall"]["ratio"] > 0
    assert results["preload"]["hmm"]["failed"] == 2
    assert results["preload"]["hmm"]["wall"]["ratio"] is None
    assert geomean["hmm"]["workloads"] == 1


def test_unknown_allocator_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "hmm", "bench", "--allocators", "glibc,nosuch"],
                          env=bench_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown allocator nosuch" in proc.stderr


def test_list():
    proc = subprocess.run([sys.executable, "-m", "hmm", "bench", "--list"],
                          env=bench_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "glibc" in proc.stdout and "hmm" in proc.stdout
    for name in ("gcc", "churn", "replace-100k"):
        assert name in proc.stdout


# ---- the smoke run ----------------------------------------------------------------


def test_quick_bench_smoke(tmp_path):
    """`python -m hmm bench --quick` on glibc and hmm, a real program, a
    stress program and one callgrind figure: every output matches glibc's
    and the reports hold ratios and the table."""
    assert shutil.which("valgrind"), "valgrind is not installed (.ci/run installs it)"
    json_path, md_path = tmp_path / "bench.json", tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, "-m", "hmm", "bench", "--quick", "--allocators", "glibc,hmm",
         "--workloads", "sqlite,churn,cross_thread", "--micro", "pair",
         "--json", str(json_path), "--markdown", str(md_path)],
        env=bench_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "[1/6] sqlite" in proc.stderr      # progress, one line per run

    data = json.loads(json_path.read_text())
    assert data["ok"] and data["failures"] == []
    assert data["outputs_matched"] is True
    assert data["machine"]["nproc"] >= 1 and data["machine"]["kernel"]
    assert [a["name"] for a in data["allocators"]] == ["glibc", "hmm"]
    assert len(data["runs"]) == 6
    assert all(run["matched"] for run in data["runs"])
    for workload in ("sqlite", "churn", "cross_thread"):
        entry = data["results"][workload]["hmm"]
        for key in ("wall", "cpu", "maxrss_kib"):
            assert entry[key]["median"] > 0
            assert entry[key]["ratio"] > 0 and math.isfinite(entry[key]["ratio"])
        assert data["results"][workload]["glibc"]["wall"]["ratio"] == pytest.approx(1.0)
    for key in ("wall", "cpu", "maxrss_kib"):
        assert data["geomean"]["hmm"][key] > 0
    pair = data["micro"]["pair"]
    assert pair["glibc"]["per_op"] > 0 and pair["hmm"]["per_op"] > 0

    markdown = md_path.read_text()
    assert markdown == proc.stdout
    assert "| workload | glibc | hmm |" in markdown
    assert "| **geometric mean** |" in markdown
    assert "| pair:" in markdown
    assert "×" in markdown
