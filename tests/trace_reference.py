"""A slow, plain reader of HMM trace files, to check the C one against.

It follows csrc/trace_format.h's text and trace_read.h's contract (what a
column holds, where reading stops, which error comes first) in the most
direct Python, one byte at a time; the tests feed both readers the same
bytes, good and damaged, and compare everything they say.
"""
import struct

from trace_writer import CALL_FIELDS, HEADER_SIZE, MASK, MAX_DEPTH, TAGS

TAG_NAMES = {value: name for name, value in TAGS.items()}
NOTE_TAGS = {TAGS[name] for name in ("MODULE", "CLOCK", "EXEC", "LOST", "MISUSE", "FINISH", "HEAP")}
ALLOCATES = {"MALLOC", "CALLOC", "REALLOC", "REALLOCARRAY", "MEMALIGN", "POSIX_MEMALIGN",
             "ALIGNED_ALLOC", "VALLOC", "PVALLOC", "HMM_ALLOC", "HMM_REALLOC", "HMM_CALLOC"}
FREES = {"FREE", "FREE_SIZED", "FREE_ALIGNED_SIZED", "HMM_FREE", "REALLOC", "REALLOCARRAY",
         "HMM_REALLOC"}
RESIZES = {"REALLOC", "REALLOCARRAY", "HMM_REALLOC"}


class Cut(Exception):
    pass


class TooLong(Exception):
    pass


class BadStack(Exception):
    pass


def _signed(u):
    return u - (1 << 64) if u >> 63 else u


def _unzigzag(z):
    return _signed((z >> 1) ^ (MASK if z & 1 else 0))


class _Bytes:
    def __init__(self, data, pos, end):
        self.data, self.pos, self.end = data, pos, end

    def varint(self):
        value, shift = 0, 0
        while True:
            if self.pos >= self.end:
                raise Cut
            byte = self.data[self.pos]
            self.pos += 1
            if shift == 63 and byte > 1:
                raise TooLong
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def skip(self, n):
        if n > self.end - self.pos:
            raise Cut
        self.pos += n


def decode(data):
    """Everything hmm_trace_read says about `data`, as a dict."""
    out = {"error": "OK", "error_offset": 0, "calls": [], "stacks": [], "notes": [],
           "end": 0, "header": None}
    if len(data) < HEADER_SIZE or data[:8] != b"HMMTRACE":
        out.update(error="NOT_A_TRACE", error_offset=0)
        return out
    (_, version, header_size, depth, pid, ppid, start_time, tsc, mono, real,
     length) = struct.unpack_from("<8sHHIIIQQQQQ", data)
    out["header"] = dict(version=version, header_size=header_size, depth=depth, pid=pid,
                         ppid=ppid, start_time=start_time, tsc=tsc, monotonic_ns=mono,
                         realtime_ns=real, length=length)
    if version != 1:
        out.update(error="BAD_VERSION", error_offset=8)
        return out
    if header_size < HEADER_SIZE:
        out.update(error="BAD_HEADER", error_offset=10)
        return out
    end = header_size + length
    cut_short = end > len(data)
    if cut_short:
        end = len(data)
    if header_size > end:
        out.update(error="CUT_SHORT", error_offset=len(data))
        return out

    last_ptr, time, thread = 0, tsc, 0
    ids = {}
    pos = header_size
    error = None
    while pos < end:
        record = pos
        tag = data[pos]
        r = _Bytes(data, pos + 1, end)
        q = last_ptr

        def pointer():
            nonlocal q
            v = r.varint()
            if v == 0:
                return 0
            q = (q + _unzigzag(v - 1)) & MASK
            return q

        name = TAG_NAMES.get(tag)
        try:
            if name in CALL_FIELDS:
                dt, stack = r.varint(), r.varint()
                c = dict(size=0, alignment=0, ptr=0, ret=0, result=0)
                nmemb = 1
                for kind in CALL_FIELDS[name]:
                    if kind == "p":
                        c["ptr"] = pointer()
                    elif kind == "r":
                        c["ret"] = pointer()
                    else:
                        v = r.varint()
                        if kind == "s":
                            c["size"] = v
                        elif kind == "n":
                            nmemb = v
                        elif kind == "a":
                            c["alignment"] = v
                        elif kind == "i":
                            c["result"] = _unzigzag(v)
                        elif kind == "u":
                            c["result"] = min(v, (1 << 63) - 1)
                        elif kind == "A":
                            c["alignment"] = _unzigzag(v) & MASK
                        elif kind == "V":
                            c["size"] = _unzigzag(v) & MASK
                product = nmemb * c["size"]
                c["size"] = product if product <= MASK else MASK
                time = (time + dt) & MASK
                out["calls"].append((time, thread, tag, ids.get(stack, 0) if stack else 0,
                                     c["size"], c["alignment"], c["ptr"], c["ret"], c["result"]))
            elif name == "THREAD":
                thread = r.varint() & 0xFFFFFFFF
            elif name == "STACK":
                stack_id, n = r.varint(), r.varint()
                if stack_id == 0 or n > MAX_DEPTH:
                    raise BadStack
                frames, ip = [], 0
                for _ in range(n):
                    ip = (ip + _unzigzag(r.varint())) & MASK
                    frames.append(ip)
                out["stacks"].append(tuple(frames))
                ids[stack_id] = len(out["stacks"])
            elif tag in NOTE_TAGS:
                a = b = 0
                if name == "MODULE":
                    r.varint()
                    r.skip(r.varint())
                    for _ in range(r.varint()):
                        r.varint()
                        r.varint()
                elif name == "CLOCK":
                    a, b = r.varint(), r.varint()
                elif name == "EXEC":
                    a = r.varint()
                    r.skip(r.varint())
                elif name in ("LOST", "HEAP"):
                    a = r.varint()
                elif name == "MISUSE":
                    r.skip(r.varint())
                out["notes"].append((tag, record, len(out["calls"]), len(out["stacks"]), a, b))
                if name == "EXEC":
                    q, time, ids = 0, a, {}
            else:
                error = "BAD_TAG"
        except Cut:
            error = "CUT_RECORD"
        except TooLong:
            error = "BAD_NUMBER"
        except BadStack:
            error = "BAD_STACK"
        if error:
            pos = record
            break
        last_ptr = q
        pos = r.pos
    out["end"] = pos
    if error:
        out.update(error=error, error_offset=pos)
    elif cut_short:
        out.update(error="CUT_SHORT", error_offset=len(data))
    return out


def pair(calls, execs=()):
    """(freed_by, frees) of hmm_trace_pair, with a dict for the live blocks."""
    n = len(calls)
    freed_by, frees = [-1] * n, [-1] * n
    live = {}
    execs = sorted(execs)
    e = 0
    for i, (_, _, tag, _, size, _, ptr, ret, _) in enumerate(calls):
        while e < len(execs) and execs[e] <= i:
            live.clear()
            e += 1
        name = TAG_NAMES[tag]
        if name in FREES and ptr:
            failed = name in RESIZES and ret == 0 and size != 0
            if not failed and ptr in live:
                block = live.pop(ptr)
                freed_by[block] = i
                frees[i] = block
        if name in ALLOCATES and ret:
            if ret in live:
                freed_by[live[ret]] = i
            live[ret] = i
    return freed_by, frees
