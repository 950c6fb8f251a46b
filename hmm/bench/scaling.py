"""Thread scaling: one threaded stress workload at several thread counts.

    python -m hmm bench --scaling server [--threads 1,2,4,8] [--plot scaling.png]

The workload runs once per thread count as a workload of its own, named
``NAME@T`` (its thread count is passed after its size), so the rounds,
the interleaving, the output checks and the paired ratios are the
benchmark's as for any workload.  The size is the total number of
requests, shared out between the threads, so every thread count does the
same work and the throughput (requests per second of wall time, start-up
included) shows what more threads gain or lose under each allocator.

matplotlib draws the plot; it is imported only then (``pip install
'hmm[bench]'``).
"""
import dataclasses

DEFAULT_THREADS = (1, 2, 4, 8)


def variant_name(workload_name, threads):
    return f"{workload_name}@{threads}"


def _with_threads(command, threads):
    def run(ctx):
        cmd = command(ctx)
        return dataclasses.replace(cmd, argv=[*cmd.argv, str(threads)])
    return run


def variants(workload, thread_counts):
    """`workload` once per thread count, each its own workload."""
    return [dataclasses.replace(workload, name=variant_name(workload.name, t),
                                summary=f"{workload.summary}, {t} thread(s)",
                                command=_with_threads(workload.command, t))
            for t in thread_counts]


def throughput(results, workload_name, thread_counts, allocators, operations):
    """{"threads": [...], "allocators": [...], "per_second": {allocator: [ops/s or None
    per thread count]}, "ratio": {allocator: [paired ratio of glibc's wall time or None]}}.

    Throughput is `operations` over the median wall time; the ratio is the
    paired wall-time ratio inverted, so above 1 is faster than glibc."""
    per_second, ratio = {}, {}
    for name in allocators:
        per_second[name], ratio[name] = [], []
        for t in thread_counts:
            entry = results.get(variant_name(workload_name, t), {}).get(name)
            wall = entry["wall"] if entry else None
            ok = wall and wall["median"]
            per_second[name].append(operations / wall["median"] if ok else None)
            ratio[name].append(1 / wall["ratio"] if ok and wall["ratio"] else None)
    return {"workload": workload_name, "operations": operations,
            "threads": list(thread_counts), "allocators": list(allocators),
            "per_second": per_second, "speed_vs_glibc": ratio}


def _rate(value):
    if value is None:
        return "failed"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M/s"
    return f"{value / 1e3:.0f} k/s"


def markdown(scaling):
    """The throughput table: a row per thread count, a column per allocator."""
    names = scaling["allocators"]
    rows = [f"| threads | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for i, t in enumerate(scaling["threads"]):
        cells = []
        for name in names:
            text = _rate(scaling["per_second"][name][i])
            speed = scaling["speed_vs_glibc"][name][i]
            if name != "glibc" and speed is not None:
                text += f" ×{speed:.2f}"
            cells.append(text)
        rows.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def check_plotting():
    """Raise ImportError with what to install unless matplotlib is there."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError("--plot needs matplotlib: pip install 'hmm[bench]'") from exc


def plot(scaling, path):
    """A line per allocator: throughput against the thread count, as PNG."""
    import matplotlib
    matplotlib.use("Agg")           # no display: write the file only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    threads = scaling["threads"]
    for name in scaling["allocators"]:
        points = [(t, v) for t, v in zip(threads, scaling["per_second"][name]) if v is not None]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, [y / 1e6 for y in ys], marker="o",
                    linewidth=2.5 if name.startswith("hmm") or name == "glibc" else 1.5,
                    label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(threads)
    ax.set_xticklabels([str(t) for t in threads])
    ax.set_xlabel("threads")
    ax.set_ylabel("million requests per second")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{scaling['workload']}: {scaling['operations']:,} requests, "
                 "shared out between the threads")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
