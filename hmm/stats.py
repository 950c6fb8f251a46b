"""Read the statistics that ``libhmm.so`` writes at exit.

With ``HMM_STATS=1`` (or ``yes``, ``true``, ``on``) the library prints to
stderr, with ``HMM_STATS=PATH`` (``%p`` = pid, ``%%`` = ``%``) it writes a
file.  Either way one report is::

    hmm: pid 1234
    hmm: policy segregated
    hmm: check 0
    hmm: alloc_calls 52
    hmm: free_calls 40
    ...

Only lines that match ``^hmm: ([a-z_]+) (\\d+)$`` belong to a report (``check``,
the check mode's level, is one of them), plus the ``policy`` line (kept as a
string); any other line (in a stderr blob, the program's own output) is
ignored.  The
names are not listed here: the library is the one source of truth, and a new
counter shows up in the dicts without a change to this file.
"""
import os
import re

LINE = re.compile(r"^hmm: ([a-z_]+) (\d+)$")
POLICY = re.compile(r"^hmm: policy ([a-z-]+)$")


def parse_all(text):
    """Every report in `text`, in order, as a list of dicts name -> int.

    A ``pid`` line starts a new report (several processes, e.g. forked
    children, may share one stderr).  A report without a pid line has no
    ``'pid'`` key.
    """
    reports = []
    current = None
    for line in text.splitlines():
        line = line.rstrip("\r")
        match = LINE.match(line)
        if match is not None:
            name, value = match.group(1), int(match.group(2))
        elif POLICY.match(line) and current is not None:
            name, value = "policy", POLICY.match(line).group(1)
        else:
            continue
        if current is None or name == "pid" or name in current:
            current = {}
            reports.append(current)
        current[name] = value
    return reports


def parse(text, pid=None):
    """The one report in `text` as a dict name -> int (``{}`` when none).

    With several reports in `text`, `pid` selects one (``{}`` if that pid
    did not report); without `pid` that is an error, since guessing which
    process the caller means would be wrong half of the time.
    """
    reports = parse_all(text)
    if pid is not None:
        for report in reports:
            if report.get("pid") == pid:
                return report
        return {}
    if len(reports) > 1:
        pids = ", ".join(str(r.get("pid", "?")) for r in reports)
        raise ValueError(
            f"the text holds {len(reports)} stats reports (pids {pids}): "
            "pass pid= or use parse_all()"
        )
    return reports[0] if reports else {}


def read_file(path):
    """The report in one stats file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse(f.read())


def read_dir(directory):
    """Every report written in `directory` (one file per process), ordered
    by file name.  Files without a report are skipped."""
    reports = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            reports.extend(parse_all(f.read()))
    return reports
