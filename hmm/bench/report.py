"""The benchmark's output: the machine it ran on, a Markdown report, JSON.

In every table lower is better.  A glibc cell holds the median over the
rounds; any other cell holds that allocator's median and, after the ×, the
paired ratio to glibc (the median over rounds of the per-round ratio, see
statistics.py).  The last row of each table is the geometric mean of the
ratios over the workloads.
"""
import datetime
import json
import os
import platform

from . import scaling

METRICS = [
    # key, title, how to print a median
    ("wall", "Wall time", lambda v: f"{v:.2f} s" if v >= 0.1 else f"{v * 1000:.0f} ms"),
    ("cpu", "CPU time (user + system, all processes)",
     lambda v: f"{v:.2f} s" if v >= 0.1 else f"{v * 1000:.0f} ms"),
    ("maxrss_kib", "Peak RSS (largest single process)",
     lambda v: f"{v / 1024:.1f} MiB"),
]


def machine():
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        nproc = os.cpu_count()
    libc, libc_version = platform.libc_ver()
    return {"nproc": nproc, "cpu": cpu, "kernel": platform.release(),
            "machine": platform.machine(), "libc": f"{libc} {libc_version}".strip(),
            "python": platform.python_version()}


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _ratio(r):
    return "–" if r is None else f"×{r:.2f}"


def _table(results, allocators, workloads, key, fmt, geomeans, rounds):
    head = "| workload | " + " | ".join(allocators) + " |"
    rule = "|---|" + "---:|" * len(allocators)
    rows = [head, rule]
    for workload in workloads:
        cells = []
        for name in allocators:
            entry = results.get(workload, {}).get(name)
            if not entry or entry[key]["median"] is None:
                cells.append("failed" if entry and entry.get("failed") else "–")
                continue
            text = fmt(entry[key]["median"])
            if name != "glibc":
                text += f" {_ratio(entry[key]['ratio'])}"
            if entry.get("failed"):
                text += f" ({entry['failed']} failed)"
            elif entry["runs"] < rounds:
                text += f" ({entry['runs']} of {rounds} rounds)"
            cells.append(text)
        rows.append(f"| {workload} | " + " | ".join(cells) + " |")
    cells = [_ratio(geomeans.get(name, {}).get(key)) if name != "glibc" else "×1.00"
             for name in allocators]
    rows.append("| **geometric mean** | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def markdown(data):
    """The whole report as Markdown."""
    m = data["machine"]
    s = data["settings"]
    allocators = [a["name"] for a in data["allocators"]]
    workloads = [w["name"] for w in data["workloads"]]
    out = [
        "# HMM benchmark",
        "",
        f"- date: {data['date']}",
        f"- machine: {m['nproc']} × {m['cpu']}, Linux {m['kernel']} ({m['machine']}), {m['libc']}",
        f"- mode: {'quick' if s['quick'] else 'normal'}, {s['rounds']} round(s), "
        f"runs interleaved; outputs compared with glibc's: "
        f"{'all matched' if data['outputs_matched'] else 'MISMATCHES, see below'}",
        "",
        "Lower is better.  glibc: median over rounds.  Others: median, then × the paired "
        "ratio to glibc (median over rounds of the per-round ratio).  Last row: geometric "
        "mean of the ratios.",
        "",
        "Allocators: " + "; ".join(f"`{a['name']}` {a['describe']}" for a in data["allocators"]),
        "",
        "Workloads: " + "; ".join(f"`{w['name']}` {w['summary']}, N={w['size']}"
                                  for w in data["workloads"]),
    ]
    for key, title, fmt in METRICS:
        out += ["", f"## {title}", "",
                _table(data["results"], allocators, workloads, key, fmt, data["geomean"],
                       s["rounds"])]
    if data.get("micro"):
        out += ["", "## Instructions per operation (callgrind)", "",
                "(Ir(2N) − Ir(N)) / N: start-up and set-up cancel.  Lower is better.", ""]
        names = [n for n in allocators if any(n in row for row in data["micro"].values())]
        out.append("| operation | per | " + " | ".join(names) + " |")
        out.append("|---|---|" + "---:|" * len(names))
        for micro in data["micro_programs"]:
            row = data["micro"].get(micro["name"], {})
            cells = []
            for name in names:
                entry = row.get(name)
                if entry is None:
                    cells.append("–")
                elif entry.get("error"):
                    cells.append("failed")
                else:
                    cells.append(f"{entry['per_op']:.0f}")
            out.append(f"| {micro['name']}: {micro['summary']} | {micro['per']} | "
                       + " | ".join(cells) + " |")
    if data.get("scaling"):
        sc = data["scaling"]
        out += ["", f"## Thread scaling: {sc['workload']}", "",
                f"{sc['operations']:,} requests shared out between the threads; requests per "
                "second of wall time (median over rounds), higher is better.  After the ×: "
                "speed relative to glibc at the same thread count (the paired wall-time ratio, "
                "inverted).", "",
                scaling.markdown(sc)]
    if data["failures"]:
        out += ["", "## Failures", ""]
        out += [f"- {f}" for f in data["failures"]]
    if data.get("notes"):
        out += ["", "## Notes", ""]
        out += [f"- {n}" for n in data["notes"]]
    return "\n".join(out) + "\n"


def write_json(data, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
