"""How fast `hmm report` reads and summarizes a big trace.

    python benchmarks/trace_report_speed.py [--calls N] [--stacks N] [--trace PATH]

Writes a synthetic trace of ten million calls (by default) in the format of
csrc/trace_format.h, then times what `hmm report` does with it: Trace.load
(the C reader), the pairing of blocks with their frees, the summary and the
leak report, and prints the time of each and calls per second.  The goal:
load + summary of ten million calls in at most 10 s.

The trace is made to look like a real program's, with numpy (a Python loop
would take minutes to write it):
  * 20,000 stacks of 4 to 16 frames in libpython's code (so that naming
    the top sites reads a real ELF file), sharing outer frames,
    with the few hot sites making most calls;
  * sizes from 8 bytes to 8 KiB and a few up to 1 MiB; calloc, realloc;
  * block lifetimes from "freed before the next allocation" (temporary) to
    "never" (leaks), so frees hit random earlier blocks;
  * four threads taking turns, clock readings every million calls.

This is a benchmark to run by hand, not a test: its figures depend on the
machine.
"""
import argparse
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a source tree

TAG = {"MALLOC": 0x01, "FREE": 0x02, "CALLOC": 0x03, "REALLOC": 0x04, "THREAD": 0x80,
       "STACK": 0x81, "MODULE": 0x82, "CLOCK": 0x83, "FINISH": 0x87}
TICKS_PER_NS = 3
TSC0, NS0 = 10**12, 5 * 10**12
BIAS = 0x55D4C0000000
HEAP = 0x55D4D0000000


# ---- varints, one at a time (for the few records that are not calls) ----------------

def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def zigzag(n):
    return ((n << 1) ^ (n >> 63)) & ((1 << 64) - 1)


# ---- varints, a column at a time ---------------------------------------------------------

def varint_lengths(values):
    lengths = np.ones(len(values), dtype=np.int64)
    for k in range(1, 10):
        lengths += (values >> np.uint64(7 * k)) != 0
    return lengths


def put_varints(out, at, values, lengths):
    for k in range(10):
        chosen = lengths > k
        if not chosen.any():
            return
        part = (values[chosen] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = np.where(lengths[chosen] > k + 1, 0x80, 0).astype(np.uint64)
        out[at[chosen] + k] = (part | more).astype(np.uint8)


def pointer_values(pointers):
    """The varint of each pointer field, in file order: 0 for NULL, else
    zigzag(p - q) + 1 with q the last non-NULL pointer before it."""
    n = len(pointers)
    index = np.where(pointers != 0, np.arange(n), -1)
    last = np.maximum.accumulate(index)
    previous = np.zeros(n, dtype=np.int64) - 1
    previous[1:] = last[:-1]
    q = np.where(previous >= 0, pointers[np.maximum(previous, 0)], np.uint64(0))
    delta = (pointers - q).view(np.int64)
    z = ((delta << 1) ^ (delta >> 63)).view(np.uint64)
    return np.where(pointers != 0, z + np.uint64(1), np.uint64(0))


# ---- a program's calls ---------------------------------------------------------------------

def code_object():
    """A big object file to put the stacks in: libpython when Python has
    one, else the Python executable."""
    import sysconfig
    library = os.path.join(sysconfig.get_config_var("LIBDIR") or "",
                           sysconfig.get_config_var("LDLIBRARY") or "")
    if library.endswith(".so") or ".so." in library:
        if os.path.isfile(library):
            return os.path.realpath(library)
    return os.path.realpath(sys.executable)


def code_segments(path):
    """(vaddr, memsz) of each PT_LOAD of `path`, and the executable ones."""
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as f:
        loads = [s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD"]
        return ([(s["p_vaddr"], s["p_memsz"]) for s in loads],
                [(s["p_vaddr"], s["p_memsz"]) for s in loads if s["p_flags"] & 1])


def make_stacks(rng, count, code):
    """`count` stacks of return addresses in `code`, innermost first; outer
    frames come from a small set, as real call trees share their roots."""
    vaddr, memsz = max(code, key=lambda seg: seg[1])
    def addresses(n):
        return (BIAS + vaddr + 1 + rng.integers(0, memsz - 1, n)).tolist()
    roots = addresses(300)
    stacks = []
    for depth in rng.integers(4, 17, count).tolist():
        inner = addresses(max(1, depth // 3))
        outer = [roots[i] for i in rng.integers(0, len(roots), depth - len(inner)).tolist()]
        stacks.append(inner + outer)
    return stacks


def simulate(rng, calls, stacks):
    """The calls, as columns: tag, stack, size, nmemb, ptr, ret."""
    allocations = int(calls * 0.6)  # more than needed: the calls are cut at `calls`
    a = np.arange(allocations, dtype=np.int64)
    # Lifetimes, in allocations made before the block is freed.
    kind = rng.random(allocations)
    life = np.zeros(allocations, dtype=np.int64)
    short = (kind >= 0.45) & (kind < 0.80)
    life[short] = rng.geometric(0.05, short.sum())
    long_ = (kind >= 0.80) & (kind < 0.95)
    life[long_] = np.exp(rng.uniform(0, np.log(2e6), long_.sum())).astype(np.int64)
    freed_after = a + life
    freed = (kind < 0.95) & (freed_after < allocations)

    size = np.exp2(rng.uniform(3, 13, allocations)).astype(np.uint64)
    big = rng.random(allocations) < 0.01
    size[big] = rng.integers(1 << 16, 1 << 20, big.sum()).astype(np.uint64)
    address = HEAP + 16 * np.cumsum(((size + np.uint64(15)) // np.uint64(16)).astype(np.int64) + 1)
    address = address.astype(np.uint64)

    # Events in order: allocation a at key 2a, the frees after allocation s
    # at key 2s + 1 in random order among themselves.
    spread = 1 << 20
    free_block = np.flatnonzero(freed)
    free_key = (2 * freed_after[free_block] + 1) * spread + rng.integers(0, spread, len(free_block))
    order = np.argsort(free_key, kind="stable")
    free_block, free_key = free_block[order], free_key[order]
    # The last free after allocation s becomes, now and then, a realloc:
    # allocation s + 1 is then realloc(that block, its size).
    slot = free_key // spread // 2
    last_of_slot = np.append(slot[1:] != slot[:-1], True)
    fuse = last_of_slot & (rng.random(len(slot)) < 0.15) & (slot + 1 < allocations)
    tag = np.full(allocations, TAG["MALLOC"], dtype=np.uint8)
    ptr = np.zeros(allocations, dtype=np.uint64)
    tag[slot[fuse] + 1] = TAG["REALLOC"]
    ptr[slot[fuse] + 1] = address[free_block[fuse]]
    is_calloc = (tag == TAG["MALLOC"]) & (rng.random(allocations) < 0.08)
    tag[is_calloc] = TAG["CALLOC"]
    nmemb = np.ones(allocations, dtype=np.uint64)
    nmemb[is_calloc] = rng.integers(1, 17, is_calloc.sum()).astype(np.uint64)
    size[is_calloc] = np.maximum(size[is_calloc] // nmemb[is_calloc], np.uint64(1)) * nmemb[is_calloc]
    free_block, free_key = free_block[~fuse], free_key[~fuse]

    keys = np.concatenate([2 * a * spread, free_key])
    events = np.argsort(keys, kind="stable")[:calls]
    is_free = events >= allocations
    block = np.where(is_free, free_block[np.maximum(events - allocations, 0)], events)

    # Hot sites: a few stacks make most calls.  Frees have stacks of their own.
    n_stacks = len(stacks)
    alloc_sites = int(n_stacks * 0.8)
    skew = rng.random(len(events)) ** 3
    stack = np.where(is_free, alloc_sites + 1 + (skew * (n_stacks - alloc_sites)).astype(np.int64),
                     1 + (skew * alloc_sites).astype(np.int64))
    out_tag = np.where(is_free, TAG["FREE"], tag[block]).astype(np.uint8)
    alloc_size = size[block] // nmemb[block]
    return {
        "tag": out_tag,
        "stack": np.minimum(stack, n_stacks).astype(np.uint64),
        "nmemb": np.where(is_free, 0, nmemb[block]).astype(np.uint64),
        "size": np.where(is_free, 0, np.where(out_tag == TAG["CALLOC"], alloc_size, size[block])),
        "ptr": np.where(is_free, address[block], ptr[block]).astype(np.uint64),
        "ret": np.where(is_free, 0, address[block]).astype(np.uint64),
    }


# ---- the file ----------------------------------------------------------------------------

def write_trace(path, calls, n_stacks, seed):
    rng = np.random.default_rng(seed)
    module = code_object()
    segments, code = code_segments(module)
    stacks = make_stacks(rng, n_stacks, code)
    c = simulate(rng, calls, stacks)
    n = len(c["tag"])
    dt = (rng.exponential(300, n) + 1).astype(np.uint64)
    tsc = TSC0 + np.cumsum(dt)

    # The call records' fields after the tag: dt, stack, then up to three.
    tag = c["tag"]
    is_malloc, is_free = tag == TAG["MALLOC"], tag == TAG["FREE"]
    is_calloc, is_realloc = tag == TAG["CALLOC"], tag == TAG["REALLOC"]
    # Pointer fields in file order: realloc's ptr comes before its ret.
    has_ptr = is_free | is_realloc
    has_ret = ~is_free
    flat = np.zeros(2 * n, dtype=np.uint64)
    flat[0::2], flat[1::2] = c["ptr"], c["ret"]
    present = np.zeros(2 * n, dtype=bool)
    present[0::2], present[1::2] = has_ptr, has_ret
    encoded = np.zeros(2 * n, dtype=np.uint64)
    encoded[present] = pointer_values(flat[present])
    ptr_value, ret_value = encoded[0::2], encoded[1::2]
    fields = [
        np.where(is_free | is_realloc, ptr_value, np.where(is_calloc, c["nmemb"], c["size"])),
        np.where(is_malloc, ret_value, c["size"]),
        np.where(is_free, 0, np.where(is_malloc, 0, ret_value)).astype(np.uint64),
    ]
    count = np.where(is_free, 1, np.where(is_malloc, 2, 3))
    columns = [dt, c["stack"]] + fields
    present = [np.ones(n, bool), np.ones(n, bool), count >= 1, count >= 2, count >= 3]
    lengths = [np.where(p, varint_lengths(v), 0) for v, p in zip(columns, present)]
    call_size = 1 + sum(lengths)

    # The other records, each before a call: the module, clocks, stacks at
    # their first use, and a THREAD record where the thread changes.
    extra = [(0, bytes([TAG["MODULE"]]) + varint(BIAS) + varint(len(module)) + module.encode()
              + varint(len(segments)) + b"".join(varint(v) + varint(m) for v, m in segments))]
    extra.append((0, bytes([TAG["CLOCK"]]) + varint(TSC0) + varint(NS0)))
    for i in range(1_000_000, n, 1_000_000):
        extra.append((i, bytes([TAG["CLOCK"]]) + varint(int(tsc[i - 1]))
                      + varint(NS0 + (int(tsc[i - 1]) - TSC0) // TICKS_PER_NS)))
    ids, first = np.unique(c["stack"], return_index=True)
    for stack_id, at in zip(ids.tolist(), first.tolist()):
        frames, previous, body = stacks[stack_id - 1], 0, b""
        for ip in frames:
            body += varint(zigzag(ip - previous))
            previous = ip
        extra.append((at, bytes([TAG["STACK"]]) + varint(stack_id) + varint(len(frames)) + body))
    changes = np.flatnonzero(rng.random(n) < 1 / 200)
    threads = 70000 + rng.integers(0, 4, len(changes))
    extra.append((0, bytes([TAG["THREAD"]]) + varint(70000)))
    for at, tid in zip(changes.tolist(), threads.tolist()):
        extra.append((at, bytes([TAG["THREAD"]]) + varint(tid)))
    extra.append((n, bytes([TAG["CLOCK"]]) + varint(int(tsc[-1]))
                  + varint(NS0 + (int(tsc[-1]) - TSC0) // TICKS_PER_NS)))
    extra.append((n, bytes([TAG["FINISH"]])))
    # Stable by position: at one call, the order above (module, clock,
    # stack, thread) is kept.
    extra.sort(key=lambda e: e[0])

    extra_at = np.array([at for at, _ in extra], dtype=np.int64)
    extra_len = np.array([len(b) for _, b in extra], dtype=np.int64)
    before = np.bincount(extra_at, weights=extra_len, minlength=n + 1).astype(np.int64)
    start = np.zeros(n + 1, dtype=np.int64)
    start[1:] = np.cumsum(call_size)
    start += np.cumsum(before)  # each call after the extras before it
    data = np.zeros(int(start[-1]), dtype=np.uint8)
    cursor = {}
    for at, body in extra:
        where = int(start[at] - before[at]) + cursor.get(at, 0)
        data[where:where + len(body)] = np.frombuffer(body, dtype=np.uint8)
        cursor[at] = cursor.get(at, 0) + len(body)
    at = start[:-1].copy()
    data[at] = tag
    at += 1
    for values, length in zip(columns, lengths):
        put_varints(data, at, values, length)
        at += length

    header = struct.pack("<8sHHIIIQQQQQ", b"HMMTRACE", 1, 64, 16, 70000, 1, 0, TSC0, NS0,
                         1_700_000_000 * 10**9, len(data))
    with open(path, "wb") as f:
        f.write(header)
        f.write(data.tobytes())
    return n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=10_000_000, help="calls in the trace (10,000,000)")
    p.add_argument("--stacks", type=int, default=20_000, help="distinct stacks (20,000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--trace", type=Path, help="write (or, with --reuse, read) the trace here "
                   "instead of a temporary file")
    p.add_argument("--reuse", action="store_true", help="time the existing --trace file")
    args = p.parse_args(argv)

    from hmm import Trace

    with tempfile.TemporaryDirectory() as tmp:
        path = args.trace or Path(tmp) / "synthetic.trace"
        if not (args.reuse and path.exists()):
            began = time.perf_counter()
            write_trace(path, args.calls, args.stacks, args.seed)
            print(f"wrote {path.stat().st_size / 2**20:,.1f} MiB in {time.perf_counter() - began:.1f} s",
                  file=sys.stderr)
        times = {}
        began = time.perf_counter()
        trace = Trace.load(path)
        times["load"] = time.perf_counter() - began
        began = time.perf_counter()
        trace.freed_by
        times["pair"] = time.perf_counter() - began
        began = time.perf_counter()
        summary = trace.summary()
        times["summary"] = time.perf_counter() - began
        began = time.perf_counter()
        leaks = trace.leaks()
        times["leaks"] = time.perf_counter() - began
        calls = len(trace)
        size = path.stat().st_size

    print(f"trace: {calls:,} calls, {len(trace.stacks):,} stacks, {size / 2**20:,.1f} MiB, "
          f"peak {summary.peak_bytes:,} bytes, {len(leaks):,} leak sites")
    for name, seconds in times.items():
        print(f"  {name:<8} {seconds:6.2f} s   {calls / seconds / 1e6:8.2f} M calls/s")
    to_summary = times["load"] + times["pair"] + times["summary"]
    print(f"  load + summary: {to_summary:.2f} s ({calls / to_summary / 1e6:.2f} M calls/s; "
          f"the goal is 10 s for 10 M)")
    print(f"  all, with the leaks: {sum(times.values()):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
