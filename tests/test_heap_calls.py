"""Each call of the simulated heap names itself in its misuse reports.

The core keeps the call it serves as an enum from the one list of calls
(csrc/call.h) and misuse.c turns it into the name: these tests pin the name
each entry point reports under, and that only free() calls a block freed
already a double free (anything else: a use after free)."""
import pytest

import hmm
from hmm import HeapError

KiB = 1024
MiB = 1024 * KiB


def _freed_and_written(heap):
    """A freed block of 64 bytes with one byte written into it, past its
    links, while its neighbour keeps it from merging with the top."""
    a = heap.alloc(64)
    heap.alloc(64)
    heap.free(a)
    at = a + 40
    heap.scribble(at, b"\x00")
    return at


ALLOCATING_CALLS = [
    ("malloc()", lambda h: h.alloc(64)),
    ("calloc()", lambda h: h.calloc(1, 64)),
    ("memalign()", lambda h: h.memalign(16, 64)),
    ("realloc()", lambda h: h.realloc(None, 64)),
]


@pytest.mark.parametrize("name, call", ALLOCATING_CALLS, ids=[n for n, _ in ALLOCATING_CALLS])
def test_write_after_free_is_reported_under_the_allocating_call(name, call):
    heap = hmm.Heap(1 * MiB, check=1)
    at = _freed_and_written(heap)
    with pytest.raises(HeapError) as caught:
        call(heap)
    assert (caught.value.fault, str(caught.value)) == (
        "write_after_free", f"hmm: {name}: write after free at {at:#x}")


POINTER_CALLS = [
    ("free()", "double_free", "double free", lambda h, p: h.free(p)),
    ("realloc()", "use_after_free", "use after free", lambda h, p: h.realloc(p, 32)),
    ("malloc_usable_size()", "use_after_free", "use after free", lambda h, p: h.usable_size(p)),
]


@pytest.mark.parametrize("name, fault, what, call", POINTER_CALLS,
                         ids=[n for n, *_ in POINTER_CALLS])
def test_a_freed_pointer_is_a_double_free_only_for_free(name, fault, what, call):
    heap = hmm.Heap(1 * MiB)
    p = heap.alloc(64)
    heap.alloc(64)   # keeps p from merging with the top
    size = next(b.size for b in heap.walk() if b.address == p)
    heap.free(p)
    with pytest.raises(HeapError) as caught:
        call(heap, p)
    assert (caught.value.fault, str(caught.value)) == (
        fault, f"hmm: {name}: {what} of {p:#x} (block of {size} bytes)")
