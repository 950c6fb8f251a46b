"""Instructions per malloc/free, counted by callgrind.

Wall time on a shared machine drifts by several per cent from one minute to
the next; the number of instructions a program executes does not.  Each
micro program (``benchmarks/micro/``) runs under ``valgrind --tool=callgrind``
twice, with N and with 2N iterations, and the cost of one operation is

    (Ir(2N) - Ir(N)) / (N * operations per iteration)

so start-up, the loader, the set-up of a live set and the exit all cancel.
Callgrind does not replace malloc (memcheck does), so the allocator
measured is the one the program would use without valgrind.
"""
import os
import re
import subprocess
from dataclasses import dataclass

TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.M)


@dataclass
class Micro:
    name: str
    program: str          # a file of benchmarks/micro, without .c
    summary: str
    per: str              # what one operation is
    ops_per_iteration: int
    iterations: tuple     # N (normal, quick)
    args: tuple = ()      # before N

    def argv(self, binary, n):
        return [str(binary), *map(str, self.args), str(n)]


MICROS = [
    Micro("pair", "pair", "malloc(32) then free, in a loop", "malloc+free pair", 1,
          (200000, 20000)),
    Micro("batch", "batch", "64 mixed small sizes (16..512) allocated, then freed",
          "malloc+free", 64, (4000, 400)),
    Micro("replace-1k", "replace", "free a random block, malloc a new one; 1,000 live",
          "free+malloc", 1, (200000, 20000), args=(1000,)),
    Micro("replace-100k", "replace", "the same with 100,000 live blocks",
          "free+malloc", 1, (200000, 20000), args=(100000,)),
]


def instructions(valgrind, argv, env, out_file, timeout=None):
    """Total instructions (Ir) of one run of `argv` under callgrind."""
    cmd = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out_file}",
           "--dump-line=no", "--compress-strings=no", *argv]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-1500:]
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    with open(out_file, "rb") as f:
        data = f.read()
    os.unlink(out_file)
    match = TOTALS.search(data)
    if not match:
        raise RuntimeError(f"no summary/totals line in the callgrind output of {argv[0]}")
    return int(match.group(1))


def per_operation(ir_n, ir_2n, n, ops_per_iteration):
    """The instructions of one operation, from runs of N and 2N iterations."""
    return (ir_2n - ir_n) / (n * ops_per_iteration)
