"""The trace reader: csrc/trace_read.c through hmm.Trace.

Traces are written by tests/trace_writer.py from the format's text, and the
C reader is compared with tests/trace_reference.py, a plain Python reader of
the same text, on random traces and on random damage to them: same calls,
stacks, notes, same error at the same offset, and no crash whatever the
bytes.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trace_reference
from trace_writer import CALL_FIELDS, HEADER_SIZE, MASK, MAX_DEPTH, TAGS, TraceWriter, varint

from hmm import Trace, TraceError
from hmm.trace import COLUMNS, TraceWarning


def load(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        return Trace.from_bytes(data, **kw)


def calls_of(trace):
    """The trace's columns as the reference's tuples."""
    return list(zip(*(getattr(trace, name).tolist() for name in COLUMNS)))


def agree(data):
    """Check that the C reader says about `data` what the reference does;
    returns the Trace (None when the header was refused)."""
    expected = trace_reference.decode(data)
    try:
        trace = load(data)
    except TraceError as exc:
        assert exc.code.upper() == expected["error"]
        assert exc.offset == expected["error_offset"]
        return None
    error = trace.error
    assert (error.code.upper() if error else "OK") == expected["error"]
    if error:
        assert error.offset == expected["error_offset"]
    assert trace.end == expected["end"]
    assert calls_of(trace) == expected["calls"]
    assert [trace.stacks[k] for k in range(1, len(trace.stacks) + 1)] == expected["stacks"]
    # The notes Python read from the C reader's offsets.
    notes = expected["notes"]
    tags = [t for t, *_ in notes]
    assert len(trace.modules) == tags.count(TAGS["MODULE"])
    assert [e.call for e in trace.execs] == [c for t, _, c, *_ in notes if t == TAGS["EXEC"]]
    assert trace.lost == sum(a for t, _, _, _, a, _ in notes if t == TAGS["LOST"])
    assert [m.call for m in trace.misuse] == [c - 1 for t, _, c, *_ in notes if t == TAGS["MISUSE"]]
    assert [e.tsc for e in trace.execs] == [a for t, _, _, _, a, _ in notes if t == TAGS["EXEC"]]
    assert trace.finished == (TAGS["FINISH"] in tags)
    assert trace.clocks[0].tolist()[1:] == [a for t, _, _, _, a, _ in notes if t == TAGS["CLOCK"]]
    # Pairing, against the reference's dictionary of live blocks.
    freed_by, frees = trace_reference.pair(expected["calls"], [e.call for e in trace.execs])
    assert trace.freed_by.tolist() == freed_by
    assert trace.frees.tolist() == frees
    return trace


# ---- every record, field by field -----------------------------------------

def every_record():
    w = TraceWriter(pid=77, ppid=66, depth=4)
    w.module(0x7f0000000000, "/usr/lib/libc.so.6", [(0, 0x28000), (0x28000, 0x155000)])
    w.module(0, "", [(0xffffffffff600000, 0x1000)])
    w.clock(10_000_000, 7_000_000_000)
    w.thread(77)
    w.stack(1, [0x401136, 0x401200, 0x7f0000029d90])
    w.stack(2, [0x401150])
    a = w.malloc(100, 0x55550000, stack=1)
    b = w.calloc(3, 5, 0x55550080, stack=2)
    c = w.realloc(a, 300, 0x55560000, stack=2)
    d = w.reallocarray(None, 4, 25, 0x55570000)
    e = w.memalign(64, 10, 0x55580040)
    f = w.posix_memalign(4096, 20, 0x55590000, 0)
    g = w.aligned_alloc(32, 64, 0x555a0020)
    h = w.valloc(7, 0x555b0000)
    i = w.pvalloc(9, 0x555c0000)
    w.thread(78)
    w.malloc_usable_size(b, 24)
    w.free_sized(b, 15)
    w.free_aligned_sized(e, 64, 10)
    w.malloc_trim(128, 1)
    w.mallopt(-8, -1, 1)
    w.call("MALLINFO")
    w.call("MALLINFO2")
    w.call("MALLOC_STATS")
    w.malloc_info(0, -22)
    j = w.call("HMM_ALLOC", 50, 0x555d0000)
    j = w.call("HMM_REALLOC", j, 60, 0x555d0000)
    k = w.call("HMM_CALLOC", 2, 8, 0x555e0000)
    w.call("HMM_FREE", j)
    w.call("HMM_FREE", k)
    w.free(c)
    w.free(None)
    w.lost(3)
    w.misuse("hmm: double free of 0x55570000 in free()")
    w.clock(30_000_000, 8_000_000_000)
    w.finish()
    return w, dict(a=a, b=b, c=c, d=d, e=e, f=f, g=g, h=h, i=i)


def test_every_record_field_by_field():
    w, p = every_record()
    t = agree(w.data())
    assert t.error is None
    assert (t.pid, t.ppid, t.depth, t.version) == (77, 66, 4, 1)
    assert t.start_tsc == 10_000_000 and t.start_ns == 7_000_000_000
    names = [t.tag_name(tag) for tag in t.tag]
    assert names == ["malloc", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign",
                     "aligned_alloc", "valloc", "pvalloc", "malloc_usable_size", "free_sized",
                     "free_aligned_sized", "malloc_trim", "mallopt", "mallinfo", "mallinfo2",
                     "malloc_stats", "malloc_info", "HmmAlloc", "HmmRealloc", "HmmCalloc",
                     "HmmFree", "HmmFree", "free", "free"]
    assert len(t) == w.calls == 25
    assert t.size.tolist()[:9] == [100, 15, 300, 100, 10, 20, 64, 7, 9]
    assert t.alignment.tolist()[4:7] == [64, 4096, 32]
    assert t.ret.tolist()[:9] == [p[x] for x in "abcdefghi"]
    assert t.ptr.tolist()[2] == p["a"] and t.ptr.tolist()[3] == 0
    assert t.result.tolist()[9] == 24 and t.ptr.tolist()[9] == p["b"]
    assert (t.size[10], t.ptr[10]) == (15, p["b"])
    assert (t.ptr[11], t.alignment[11], t.size[11]) == (p["e"], 64, 10)
    assert (t.size[12], t.result[12]) == (128, 1)
    # mallopt's ints in two's complement, in alignment (param) and size (value)
    assert (int(t.alignment[13]), int(t.size[13]), t.result[13]) == ((-8) & MASK, MASK, 1)
    assert t.result[17] == -22
    assert t.thread.tolist() == [77] * 9 + [78] * 16
    assert t.threads == (77, 78)
    assert t.stack.tolist()[:4] == [1, 2, 2, 0]
    assert t.stacks == {1: (0x401136, 0x401200, 0x7f0000029d90), 2: (0x401150,)}
    assert t.time.tolist() == [10_000_000 + 10 * (i + 1) for i in range(25)]
    assert t.modules[0].path == "/usr/lib/libc.so.6"
    assert t.modules[0].bias == 0x7f0000000000
    assert t.modules[0].segments == ((0, 0x28000), (0x28000, 0x155000))
    assert t.modules[1].path == "" and t.modules[1].segments == ((0xffffffffff600000, 0x1000),)
    assert t.lost == 3 and t.finished
    assert t.misuse[0].message == "hmm: double free of 0x55570000 in free()"
    assert t.misuse[0].call == 24
    # pairing: a is freed by the realloc, the realloc's block by the last free
    assert t.freed_by[0] == 2 and t.frees[2] == 0
    assert t.freed_by[2] == 23 and t.frees[23] == 2
    assert t.freed_by[1] == 10 and t.freed_by[4] == 11
    assert t.freed_by[3] == -1  # d is never freed
    assert t.frees[24] == -1    # free(NULL)
    assert t.freed_by[18] == 19 and t.freed_by[19] == 21 and t.freed_by[20] == 22


def test_time_between_clock_readings():
    w = TraceWriter(tsc=1000, monotonic_ns=5_000)
    w.clock(3000, 6_000)  # 2000 ticks per 1000 ns
    w.thread(1)
    w.malloc(1, 0x10, dt=1000)   # tick 2000
    w.malloc(1, 0x20, dt=2000)   # tick 4000: beyond the last reading
    w.clock(5000, 7_000)         # 2000 ticks per 1000 ns again
    w.malloc(1, 0x30, dt=1000)   # tick 5000
    t = agree(w.data())
    assert t.ns.tolist() == [5_500, 6_500, 7_000]
    assert t.seconds.tolist() == [0.5e-6, 1.5e-6, 2e-6]


def test_time_past_the_last_reading_goes_on_at_the_average_rate():
    w = TraceWriter(tsc=0, monotonic_ns=0)
    w.clock(1000, 1000)
    w.thread(1)
    w.malloc(1, 0x10, dt=3000)
    assert load(w.data()).ns.tolist() == [3000]


def test_calloc_size_overflow_saturates():
    w = TraceWriter()
    w.thread(1)
    w.calloc(1 << 40, 1 << 40, 0)
    w.reallocarray(0x100, 1 << 63, 2, 0)
    w.calloc(0, 1 << 63, 0x100)
    t = agree(w.data())
    assert t.size.tolist() == [MASK, MASK, 0]
    # the failed reallocarray frees nothing: its size is not 0
    assert t.frees.tolist() == [-1, -1, -1]


# ---- pairing ----------------------------------------------------------------

def test_realloc_cases():
    w = TraceWriter()
    w.thread(1)
    a = w.malloc(10, 0x1000)                 # 0
    w.realloc(a, 1 << 50, None)              # 1: fails, a stays
    b = w.realloc(a, 20, 0x1000)             # 2: in place: frees a, new block
    w.realloc(b, 0, None)                    # 3: realloc(p, 0) -> NULL frees p
    c = w.realloc(None, 30, 0x2000)          # 4: realloc(NULL, n) is malloc
    d = w.realloc(c, 0, 0x3000)              # 5: realloc(p, 0) -> a block
    w.free(d)                                # 6
    w.free(d)                                # 7: double free: no block
    w.free(0xdead0)                          # 8: never allocated
    t = agree(w.data())
    assert t.freed_by.tolist() == [2, -1, 3, -1, 5, 6, -1, -1, -1]
    assert t.frees.tolist() == [-1, -1, 0, 2, -1, 4, 5, -1, -1]


def test_address_returned_again_without_a_free_ends_the_old_block():
    w = TraceWriter()
    w.thread(1)
    w.malloc(10, 0x1000)
    w.malloc(20, 0x1000)  # the free of the first went unrecorded
    t = agree(w.data())
    assert t.freed_by.tolist() == [1, -1]
    assert t.frees.tolist() == [-1, -1]


def test_exec_starts_over():
    w = TraceWriter(tsc=100)
    w.thread(5)
    w.stack(1, [0xaaa])
    w.malloc(10, 0x7000, stack=1, dt=50)        # call 0, tick 150
    w.malloc(11, 0x7100, stack=1)               # call 1
    w.free(0x7100)                              # call 2
    w.exec("/usr/bin/next", tsc=100_000)
    w.thread(5)
    w.stack(1, [0xbbb, 0xccc])                  # the same id, a new stack
    w.free(0x7000, dt=20)                       # call 3: that block is gone
    w.malloc(12, 0x7000, stack=1)               # call 4: a new one there
    t = agree(w.data())
    assert t.execs[0].path == "/usr/bin/next" and t.execs[0].call == 3
    assert t.stacks == {1: (0xaaa,), 2: (0xbbb, 0xccc)}
    assert t.stack.tolist() == [1, 1, 0, 2, 2][:3] + [0, 2]
    assert t.time.tolist() == [150, 160, 170, 100_020, 100_030]  # from the exec's tsc
    assert t.ret.tolist()[4] == 0x7000 and t.ptr.tolist()[3] == 0x7000
    assert t.freed_by.tolist() == [-1, 2, -1, -1, -1]
    assert t.frees.tolist() == [-1, -1, 1, -1, -1]
    assert t.image_of_calls().tolist() == [0, 0, 0, 1, 1]
    assert (t.image_of_stack(1), t.image_of_stack(2)) == (0, 1)


def test_heap_sizes_follow_the_heap_records():
    w = TraceWriter()
    w.thread(1)
    w.malloc(10, 0x7000)            # call 0: the heap grew
    w.heap(135168)
    w.malloc(11, 0x7100)            # call 1
    w.free(0x7100)                  # call 2: trimmed
    w.heap(131072)
    w.exec("/usr/bin/next")
    w.malloc(12, 0x9000)            # call 3: the new program's heap
    w.heap(4096)
    w.malloc(13, 0x9100)            # call 4
    t = agree(w.data())
    assert t.heap_sizes().tolist() == [135168, 135168, 131072, 4096, 4096]
    w = TraceWriter()
    w.thread(1)
    w.malloc(10, 0x7000)
    assert agree(w.data()).heap_sizes() is None   # no HEAP records: not known


def test_pairing_grows_its_table_for_many_live_blocks():
    rng = np.random.default_rng(1)
    w = TraceWriter()
    w.thread(1)
    addresses = [0x10000000 + 16 * i for i in range(20000)]
    for p in addresses:
        w.malloc(int(rng.integers(1, 100)), p)
    for i in rng.permutation(len(addresses))[:15000]:
        w.free(addresses[i])
    t = agree(w.data())
    assert (t.freed_by[:20000] >= 0).sum() == 15000


# ---- damage --------------------------------------------------------------------

def small_trace():
    w = TraceWriter()
    w.module(0x400000, "/bin/prog", [(0, 0x1000)])
    w.thread(9)
    w.stack(1, [0x401000])
    for i in range(5):
        w.malloc(16 * (i + 1), 0x9000 + 0x100 * i, stack=1)
    w.free(0x9000)
    w.finish()
    return w


def test_cut_inside_a_record_keeps_the_calls_before_it():
    w = small_trace()
    data = w.data()
    fourth = w.offsets[5]  # module, thread, stack, then the calls
    cut = data[:fourth + 2]
    with pytest.warns(TraceWarning, match=f"byte {fourth:,}"):
        t = Trace.from_bytes(cut, name="cut.trace")
    assert t.error.code == "cut_record" and t.error.offset == fourth
    assert str(t.error).startswith(f"cut.trace: byte {fourth:,}: a record runs past")
    assert len(t) == 2 and t.size.tolist() == [16, 32]
    agree(cut)


def test_cut_between_records_says_the_file_is_short():
    w = small_trace()
    data = w.data()
    end = w.offsets[6]
    t = load(data[:end])
    assert t.error.code == "cut_short" and t.error.offset == end
    assert f"to byte {len(data):,}" in t.error.reason
    assert len(t) == 3


def test_bytes_past_the_header_length_are_not_records():
    w = small_trace()
    length = w.offsets[5] - HEADER_SIZE
    t = agree(w.data(length=length) + b"\xff garbage")
    assert t.error is None and len(t) == 2


def test_bad_tag_names_its_offset_and_byte():
    w = small_trace()
    w.raw(b"\x55\x01\x02")
    w.malloc(1, 0x1)
    t = agree(w.data())
    assert t.error.code == "bad_tag" and t.error.offset == w.offsets[-2]
    assert "(0x55)" in t.error.reason
    assert len(t) == 6 and t.finished


def test_number_longer_than_64_bits():
    w = small_trace()
    w.raw(bytes([TAGS["LOST"]]) + b"\xff" * 9 + b"\x02")
    t = agree(w.data())
    assert t.error.code == "bad_number" and t.error.offset == w.offsets[-1]
    w = small_trace()
    w.raw(bytes([TAGS["LOST"]]) + b"\xff" * 9 + b"\x01")  # 2**64 - 1: fine
    t = agree(w.data())
    assert t.error is None and t.lost == MASK


def test_stack_too_deep_or_id_zero():
    for stack_id, depth in ((1, MAX_DEPTH + 1), (0, 1)):
        w = small_trace()
        w.stack(stack_id, list(range(1, depth + 1)))
        t = agree(w.data())
        assert t.error.code == "bad_stack" and t.error.offset == w.offsets[-1]
    w = small_trace()
    w.stack(2, list(range(1, MAX_DEPTH + 1)))
    assert agree(w.data()).error is None


def test_not_a_trace():
    with pytest.raises(TraceError, match="byte 0: not an HMM trace"):
        Trace.from_bytes(b"hello world" * 10)
    with pytest.raises(TraceError) as info:
        Trace.from_bytes(b"HMMTRACE")
    assert info.value.code == "not_a_trace"
    w = TraceWriter(version=2)
    with pytest.raises(TraceError, match=r"byte 8: .*version 2"):
        Trace.from_bytes(w.data())
    w = TraceWriter(header_size=32)
    with pytest.raises(TraceError, match="byte 10: the header's size"):
        Trace.from_bytes(w.data())


def test_strict_raises_on_damage(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(small_trace().data()[:-3])
    with pytest.raises(TraceError):
        Trace.load(path, strict=True)
    with pytest.warns(TraceWarning):
        assert len(Trace.load(path)) == 5


def test_empty_trace_and_empty_file(tmp_path):
    t = agree(TraceWriter().data())
    assert len(t) == 0 and t.threads == () and t.freed_by.tolist() == []
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(TraceError, match="not an HMM trace"):
        Trace.load(empty)


def test_larger_header_is_skipped():
    w = TraceWriter(header_size=80)
    w.thread(1)
    w.malloc(5, 0x50)
    t = agree(w.data())
    assert t.size.tolist() == [5]


# ---- random traces, random damage ---------------------------------------------

POINTERS = st.one_of(st.sampled_from([0, 0x1000, 0x1010, 0x2000, 0x7fff0000, 0xdead0]),
                     st.integers(0, MASK))
NUMBERS = st.one_of(st.integers(0, 300), st.integers(0, MASK))
INTS = st.integers(-(1 << 63), (1 << 63) - 1)


@st.composite
def call_ops(draw):
    name = draw(st.sampled_from(sorted(CALL_FIELDS)))
    values = []
    for kind in CALL_FIELDS[name]:
        if kind in "pr":
            values.append(draw(POINTERS))
        elif kind in "iAV":
            values.append(draw(INTS))
        else:
            values.append(draw(NUMBERS))
    return ("call", name, values, draw(st.integers(0, 1 << 40)), draw(st.integers(0, 6)))


OPS = st.one_of(
    call_ops(), call_ops(), call_ops(), call_ops(),
    st.tuples(st.just("thread"), st.integers(0, 1 << 33)),
    st.tuples(st.just("stack"), st.integers(1, 6),
              st.lists(st.integers(0, MASK), max_size=MAX_DEPTH)),
    st.tuples(st.just("module"), NUMBERS, st.binary(max_size=20),
              st.lists(st.tuples(NUMBERS, NUMBERS), max_size=3)),
    st.tuples(st.just("clock"), NUMBERS, NUMBERS),
    st.tuples(st.just("exec"), st.binary(max_size=20), NUMBERS),
    st.tuples(st.just("lost"), NUMBERS),
    st.tuples(st.just("misuse"), st.binary(max_size=30)),
    st.tuples(st.just("finish")),
)


def write_ops(ops):
    w = TraceWriter()
    for op in ops:
        kind, args = op[0], op[1:]
        if kind == "call":
            name, values, dt, stack = args
            w.call(name, *values, dt=dt, stack=stack)
        else:
            getattr(w, kind)(*args)
    return w


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=40))
def test_random_traces_read_as_the_reference_reads_them(ops):
    t = agree(write_ops(ops).data())
    assert t.error is None


DAMAGE = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 12)),
    st.tuples(st.just("length"), st.integers(0, MASK)),
)


def damage(data, how):
    data = bytearray(data)
    kind = how[0]
    records = min(len(data), HEADER_SIZE)  # where insertions and deletions go from
    if not data:
        return b""
    if kind == "flip":
        at = how[1] % len(data)
        data[at] ^= how[2]
    elif kind == "cut":
        del data[how[1] % (len(data) + 1):]
    elif kind == "insert":
        at = records + how[1] % (len(data) - records + 1)
        data[at:at] = how[2]
    elif kind == "delete":
        at = records + how[1] % (len(data) - records + 1)
        del data[at:at + how[2]]
    elif kind == "length" and len(data) >= HEADER_SIZE:
        data[56:64] = how[1].to_bytes(8, "little")
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=30), st.lists(DAMAGE, min_size=1, max_size=3))
def test_damaged_traces_read_as_the_reference_reads_them(ops, harms):
    data = write_ops(ops).data()
    for how in harms:
        data = damage(data, how)
    agree(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_after_a_header(tail):
    agree(TraceWriter().header(length=len(tail)) + tail)


def test_varint_of_the_writer():
    # the writer's encoding, so that the tests above mean what they say
    assert varint(0) == b"\x00" and varint(127) == b"\x7f"
    assert varint(128) == b"\x80\x01" and varint(MASK) == b"\xff" * 9 + b"\x01"
