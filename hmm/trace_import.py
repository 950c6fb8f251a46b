"""Other allocators' traces, as HMM traces, so that `hmm replay` and
`hmm.Trace` take them too:

* glibc's mtrace(3) log (MALLOC_TRACE=FILE with a program that calls
  mtrace()): "@ caller + 0xPTR 0xSIZE" for malloc, "- 0xPTR" for free,
  "< 0xOLD" then "> 0xNEW 0xSIZE" for realloc;
* the CS:APP malloc lab's .rep traces: four header numbers (suggested heap
  size, ids, operations, weight), then "a ID SIZE", "f ID" and "r ID SIZE".

Each is written out in HMM's own format (csrc/trace_format.h), calls only,
one thread, no stacks, and read back with Trace.from_bytes: one reader for
all.  A .rep trace names blocks by id: each id gets an address of its own.
"""
import re
import struct

from .trace import Trace, tag_names

HEADER_SIZE = 64


class TraceImportError(ValueError):
    """A line the importer cannot read, with its number."""


def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class _Writer:
    """Call records in HMM's format (trace_format.h)."""

    def __init__(self):
        # Each name's tag ("malloc", "THREAD"...), from the C reader's table.
        self.tags = {name: tag for tag, name in tag_names().items()}
        self.body = bytearray(bytes([self.tags["THREAD"]]) + _varint(1))
        self.last = 0

    def _pointer(self, p):
        if not p:
            return _varint(0)
        delta = (p - self.last) & ((1 << 64) - 1)
        delta = delta - (1 << 64) if delta >= 1 << 63 else delta
        self.last = p
        return _varint(((delta << 1) ^ (delta >> 63)) + 1 & ((1 << 64) - 1))

    def call(self, tag, *fields):
        """fields: ("s", n) sizes or ("p", address) pointers."""
        record = bytes([self.tags[tag]]) + _varint(1) + _varint(0)   # 1 tick later, no stack
        for kind, value in fields:
            record += _varint(value) if kind == "s" else self._pointer(value)
        self.body += record

    def bytes(self):
        body = self.body + bytes([self.tags["FINISH"]])
        header = struct.pack("<8sHHIIIQQQQQ", b"HMMTRACE", 1, HEADER_SIZE, 0, 0, 0, 0, 0, 0, 0,
                             len(body))
        return header + body


_MTRACE = re.compile(r"^@ .*?([-+<>]) (0x[0-9a-fA-F]+|\(nil\))(?: (0x[0-9a-fA-F]+))?\s*$")


def from_mtrace(text, name="<mtrace>"):
    """A Trace of glibc's mtrace log `text`."""
    w = _Writer()
    pending_old = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("="):
            continue
        match = _MTRACE.match(line)
        if not match:
            raise TraceImportError(f"{name}: line {number}: not an mtrace line: {line[:80]!r}")
        op, pointer, size = match.groups()
        address = 0 if pointer == "(nil)" else int(pointer, 16)
        if op == "+":
            w.call("malloc", ("s", int(size or "0", 16)), ("p", address))
        elif op == "-":
            w.call("free", ("p", address))
        elif op == "<":
            pending_old = address
        else:   # ">": the realloc's new block
            w.call("realloc", ("p", pending_old or 0), ("s", int(size or "0", 16)), ("p", address))
            pending_old = None
    return Trace.from_bytes(w.bytes(), name)


def from_rep(text, name="<rep>"):
    """A Trace of a CS:APP malloc lab .rep trace `text`."""
    words = text.split("\n", 4)
    if len(words) < 5:
        raise TraceImportError(f"{name}: too short for a .rep trace (four header lines)")
    w = _Writer()
    live = {}
    for number, line in enumerate(words[4].splitlines(), 5):
        parts = line.split()
        if not parts:
            continue
        try:
            op, block = parts[0], int(parts[1])
            size = int(parts[2]) if op in ("a", "r") else 0
        except (IndexError, ValueError):
            raise TraceImportError(f"{name}: line {number}: not a .rep operation: {line[:80]!r}") from None
        address = 0x10000 + 16 * block   # one address an id, while it lives
        if op == "a":
            w.call("malloc", ("s", size), ("p", address))
            live[block] = address
        elif op == "f":
            w.call("free", ("p", live.pop(block, address)))
        elif op == "r":
            w.call("realloc", ("p", live.get(block, 0)), ("s", size), ("p", address))
            live[block] = address
        else:
            raise TraceImportError(f"{name}: line {number}: unknown operation {op!r}")
    return Trace.from_bytes(w.bytes(), name)


def load_any(path):
    """An HMM trace, an mtrace log or a .rep trace, by what the file holds."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"HMMTRACE":
        return Trace.load(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if text.startswith("= Start") or text.lstrip().startswith("@ "):
        return from_mtrace(text, str(path))
    if re.match(r"\s*\d+\s*\n\s*\d+\s*\n\s*\d+\s*\n\s*\d+\s*\n", text):
        return from_rep(text, str(path))
    return Trace.load(path)   # says what is wrong with it
