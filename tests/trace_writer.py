"""A writer of HMM trace files (csrc/trace_format.h), for the tests.

It is written from the format's description, not from the reader, so that
the tests check the reader against the format and not against itself.  The
tag numbers come from trace_format.h's enum, the one place that says them.

    w = TraceWriter()
    w.thread(100)
    w.stack(1, [0x401136, 0x401200])
    p = w.malloc(24, 0x5000, stack=1)
    w.free(p)
    w.save(path)
"""
import re
import struct
from pathlib import Path

FORMAT_HEADER = Path(__file__).resolve().parents[1] / "csrc" / "trace_format.h"


def _tags():
    """{"MALLOC": 0x01, ..., "FINISH": 0x87} from the header's enum."""
    text = FORMAT_HEADER.read_text()
    body = text[text.index("enum trace_tag"):]
    body = body[:body.index("};")]
    return {name: int(value, 0) for name, value in re.findall(r"TRACE_(\w+) = (0x[0-9a-fA-F]+)", body)}


TAGS = _tags()
MAX_DEPTH = int(re.search(r"#define TRACE_MAX_DEPTH (\d+)", FORMAT_HEADER.read_text()).group(1))
HEADER_SIZE = 64

# A call's fields after tag, time and stack, as trace_format.h lists them:
# s size, n nmemb, a alignment, p/r pointer passed/returned, i int, u size
# result, A/V the int arguments of mallopt and malloc_info.
CALL_FIELDS = {
    "MALLOC": "sr", "VALLOC": "sr", "PVALLOC": "sr", "HMM_ALLOC": "sr",
    "CALLOC": "nsr", "HMM_CALLOC": "nsr",
    "REALLOC": "psr", "HMM_REALLOC": "psr",
    "REALLOCARRAY": "pnsr",
    "FREE": "p", "HMM_FREE": "p",
    "FREE_SIZED": "ps",
    "FREE_ALIGNED_SIZED": "pas",
    "MEMALIGN": "asr", "ALIGNED_ALLOC": "asr",
    "POSIX_MEMALIGN": "asri",
    "MALLOC_USABLE_SIZE": "pu",
    "MALLOC_TRIM": "si",
    "MALLOPT": "AVi",
    "MALLOC_INFO": "Ai",
    "MALLINFO": "", "MALLINFO2": "", "MALLOC_STATS": "",
}
SIGNED_FIELDS = "iAV"
MASK = (1 << 64) - 1


def varint(n):
    """Unsigned LEB128."""
    if n < 0 or n > MASK:
        raise ValueError(f"varint out of range: {n}")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(n):
    """A signed 64-bit number as the format's unsigned one."""
    n = ((n + (1 << 63)) & MASK) - (1 << 63)  # wrap into int64
    return ((n << 1) ^ (n >> 63)) & MASK


class TraceWriter:
    """Builds one trace in memory: a header, then the records in the order
    the methods are called.  Each call method returns the pointer the call
    returned (or None), so that a test reads like the program it stands for.
    """

    def __init__(self, pid=4242, ppid=1, depth=16, tsc=10_000_000, monotonic_ns=7_000_000_000,
                 realtime_ns=1_700_000_000_000_000_000, start_time=123456, version=1,
                 header_size=HEADER_SIZE):
        self.pid, self.ppid, self.depth = pid, ppid, depth
        self.tsc, self.monotonic_ns, self.realtime_ns = tsc, monotonic_ns, realtime_ns
        self.start_time, self.version, self.header_size = start_time, version, header_size
        self.records = bytearray()
        self.last_ptr = 0   # q of the format
        self.time = tsc     # of the last call, in ticks
        self.calls = 0
        self.offsets = []   # where each record starts, from the file's start

    # ---- the encoding ------------------------------------------------------

    def _pointer(self, p):
        if p is None or p == 0:
            return varint(0)
        encoded = varint(zigzag(p - self.last_ptr) + 1)
        self.last_ptr = p & MASK
        return encoded

    def _record(self, tag, body=b""):
        self.offsets.append(self.header_size + len(self.records))
        self.records += bytes([TAGS[tag] if isinstance(tag, str) else tag]) + body

    def raw(self, data):
        """Bytes that are no record of the format (to test the reader)."""
        self.offsets.append(self.header_size + len(self.records))
        self.records += data

    # ---- the calls ---------------------------------------------------------

    def call(self, name, *values, dt=10, stack=0):
        """A call record of `name` ("MALLOC"...), its fields in the order
        trace_format.h gives; dt ticks after the previous call."""
        fields = CALL_FIELDS[name]
        if len(values) != len(fields):
            raise TypeError(f"{name} takes {len(fields)} fields ({fields}), got {len(values)}")
        body = varint(dt) + varint(stack)
        for kind, value in zip(fields, values):
            if kind in "pr":
                body += self._pointer(value)
            elif kind in SIGNED_FIELDS:
                body += varint(zigzag(value))
            else:
                body += varint(value)
        self.time = (self.time + dt) & MASK
        self.calls += 1
        self._record(name, body)
        return values[fields.index("r")] if "r" in fields else None

    def malloc(self, size, ret, **kw):
        return self.call("MALLOC", size, ret, **kw)

    def calloc(self, nmemb, size, ret, **kw):
        return self.call("CALLOC", nmemb, size, ret, **kw)

    def realloc(self, ptr, size, ret, **kw):
        return self.call("REALLOC", ptr, size, ret, **kw)

    def reallocarray(self, ptr, nmemb, size, ret, **kw):
        return self.call("REALLOCARRAY", ptr, nmemb, size, ret, **kw)

    def free(self, ptr, **kw):
        return self.call("FREE", ptr, **kw)

    def free_sized(self, ptr, size, **kw):
        return self.call("FREE_SIZED", ptr, size, **kw)

    def free_aligned_sized(self, ptr, alignment, size, **kw):
        return self.call("FREE_ALIGNED_SIZED", ptr, alignment, size, **kw)

    def memalign(self, alignment, size, ret, **kw):
        return self.call("MEMALIGN", alignment, size, ret, **kw)

    def aligned_alloc(self, alignment, size, ret, **kw):
        return self.call("ALIGNED_ALLOC", alignment, size, ret, **kw)

    def posix_memalign(self, alignment, size, ret, result=0, **kw):
        return self.call("POSIX_MEMALIGN", alignment, size, ret, result, **kw)

    def valloc(self, size, ret, **kw):
        return self.call("VALLOC", size, ret, **kw)

    def pvalloc(self, size, ret, **kw):
        return self.call("PVALLOC", size, ret, **kw)

    def malloc_usable_size(self, ptr, result, **kw):
        return self.call("MALLOC_USABLE_SIZE", ptr, result, **kw)

    def malloc_trim(self, pad, result, **kw):
        return self.call("MALLOC_TRIM", pad, result, **kw)

    def mallopt(self, param, value, result, **kw):
        return self.call("MALLOPT", param, value, result, **kw)

    def malloc_info(self, options, result, **kw):
        return self.call("MALLOC_INFO", options, result, **kw)

    # ---- the process -------------------------------------------------------

    def thread(self, tid):
        self._record("THREAD", varint(tid))

    def stack(self, stack_id, frames):
        body = varint(stack_id) + varint(len(frames))
        previous = 0
        for ip in frames:
            body += varint(zigzag(ip - previous))
            previous = ip
        self._record("STACK", body)

    def module(self, bias, path, segments):
        """segments: (p_vaddr, p_memsz) pairs."""
        path = path.encode() if isinstance(path, str) else path
        body = varint(bias) + varint(len(path)) + path + varint(len(segments))
        for vaddr, memsz in segments:
            body += varint(vaddr) + varint(memsz)
        self._record("MODULE", body)

    def clock(self, tsc, ns):
        self._record("CLOCK", varint(tsc) + varint(ns))

    def exec(self, path, tsc=None):
        """The process exec'ed `path`, at tick `tsc` (by default 1000 after
        the last call): the new program's recorder starts over, with
        pointers against 0, time from `tsc` and stack ids from 1."""
        tsc = (self.time + 1000) & MASK if tsc is None else tsc
        path = path.encode() if isinstance(path, str) else path
        self._record("EXEC", varint(tsc) + varint(len(path)) + path)
        self.last_ptr = 0
        self.time = tsc

    def lost(self, n):
        self._record("LOST", varint(n))

    def misuse(self, line):
        """HMM's report of a misuse in the call before (its stderr line)."""
        line = line.encode() if isinstance(line, str) else line
        self._record("MISUSE", varint(len(line)) + line)

    def finish(self):
        self._record("FINISH")

    def heap(self, size):
        """The process heap's size after the call before."""
        self._record("HEAP", varint(size))

    # ---- the file ----------------------------------------------------------

    def header(self, length=None):
        length = len(self.records) if length is None else length
        head = struct.pack("<8sHHIIIQQQQQ", b"HMMTRACE", self.version, self.header_size,
                           self.depth, self.pid, self.ppid, self.start_time, self.tsc,
                           self.monotonic_ns, self.realtime_ns, length)
        return head + bytes(max(0, self.header_size - len(head)))

    def data(self, length=None):
        """The whole file; `length` overrides the header's count of bytes."""
        return self.header(length) + bytes(self.records)

    def save(self, path, length=None):
        Path(path).write_bytes(self.data(length))
        return path
