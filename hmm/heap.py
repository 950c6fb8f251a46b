"""A simulated heap you can drive and look into from Python.

    >>> from hmm import Heap
    >>> h = Heap(1 << 20)
    >>> a = h.alloc(100)
    >>> h.write(a, b"hello")
    >>> h.free(a)
    >>> print(h)

The C core runs over a buffer that Python owns (the TLSF idea: the caller
hands the allocator its memory), with a fake break instead of sbrk.  So this
is the very allocator that ``libhmm.so`` preloads, minus the OS: every split,
coalesce, grow and trim happens here exactly as it does in a process.

Addresses are plain ints, real addresses inside the buffer; NULL is None.
Misuse never crashes the interpreter: the core validates every pointer it is
given, records a fault instead of aborting, and this class turns the fault
into a ``HeapError`` carrying the core's one-line message.  What the core
cannot see (a non-int, a negative size, a pointer outside the buffer, a read
past a block) is checked here first.
"""
import collections
import threading

# One C address: sizes and pointers must fit in size_t / uintptr_t.
_ADDRESS_LIMIT = 1 << 64
# The core returns 16-byte aligned blocks; the extra bytes let the buffer
# handed to it start at any offset from such a boundary (see `misalign`).
_ALIGN = 16


_FAULT_PREFIX = "HMM_FAULT_"


class HeapError(ValueError):
    """Misuse of a heap: an invalid or double free, a bad argument, an
    access outside a live block.

    ``fault`` names what the core found (one of `hmm.FAULTS`:
    ``"invalid_pointer"``, ``"double_free"``, ``"corrupt_header"``, ...) or
    is None when the argument was refused in Python before reaching the
    core.
    """

    def __init__(self, message, fault=None):
        super().__init__(message)
        self.fault = fault


Block = collections.namedtuple("Block", "address size usable used offset")
Block.__doc__ = """One block of the heap, as the core's walker reports it.

address: what alloc returned (the payload, just past the 16-byte header)
size:    the whole block, header included
usable:  bytes the program may use at `address` (0 for a free block)
used:    True in use, False free
offset:  `address` minus the heap's start (`Heap.start`)
"""


_core = None


def _load_core():
    # Imported on first use so that `import hmm` (and hmm-run) stay fast and
    # work even where only the preload library was built.
    global _core
    if _core is None:
        from . import _core as core

        _core = core
    return _core


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _fault_names():
    """{value: name} of what the core can find wrong, from its hmm_fault
    enum (hmm.h): HMM_FAULT_DOUBLE_FREE is "double_free"."""
    elements = _load_core().ffi.typeof("hmm_fault").elements
    return {value: name[len(_FAULT_PREFIX):].lower()
            for value, name in sorted(elements.items()) if value != 0}


Option = collections.namedtuple("Option", "name default meaning")
Option.__doc__ = """One HMM_* environment option of libhmm.so, from the core's table.

name:    the variable, e.g. "HMM_TCACHE"
default: what it is when unset, as the variable would hold it ("32", "128k")
meaning: one line on what it does
"""


def _option_table():
    """The HMM_* options, in the core's order (csrc/options.h)."""
    core = _load_core()
    ffi, lib = core.ffi, core.lib
    return tuple(
        Option(*(ffi.string(get(i)).decode("ascii")
                 for get in (lib.hmm_option_name, lib.hmm_option_default, lib.hmm_option_meaning)))
        for i in range(lib.hmm_option_count()))


_policies = None


def _policy_names():
    """The placement policies the core knows, in its order (default first)."""
    global _policies
    if _policies is None:
        core = _load_core()
        names = []
        while True:
            name = core.lib.hmm_policy_name(len(names))
            if name == core.ffi.NULL:
                break
            names.append(core.ffi.string(name).decode("ascii"))
        _policies = tuple(names)
    return _policies


def __getattr__(name):
    # These are read from the core, which is loaded only on first use.
    if name == "POLICIES":
        return _policy_names()
    if name == "FAULTS":
        return tuple(_fault_names().values())
    if name == "OPTIONS":
        return _option_table()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Heap:
    """A heap of `size` bytes over a buffer owned by this object.

    The core keeps its control block at the start of the buffer; the rest is
    the simulated address space that the fake break walks through.
    `misalign` (0..15) offsets the buffer from a 16-byte boundary, to see
    that the core copes with any alignment.  `policy` picks the placement
    policy, one of `hmm.POLICIES` (see `set_policy`).  `check` turns on the
    check mode (HMM_CHECK): 1 puts a canary after every block and fills
    free memory, to catch overflows and writes after free; 2 also checks
    the whole heap every `check_every` operations (0: the default of
    HMM_CHECK_EVERY, in `hmm.OPTIONS`).

    C semantics kept on purpose (they are what programs get):
    ``alloc(0)`` returns a unique minimum-size block (glibc's malloc(0));
    ``free(None)`` does nothing; ``realloc(None, n)`` allocates;
    ``realloc(p, 0)`` frees p and returns None.  Running out of memory
    returns None, as malloc returns NULL.
    """

    def __init__(self, size, *, misalign=0, policy="segregated", check=0, check_every=0, maps=0):
        if not _is_int(size):
            raise HeapError(f"hmm: Heap(): size must be an int, not {type(size).__name__}")
        if size <= 0 or size >= _ADDRESS_LIMIT:
            raise HeapError(f"hmm: Heap(): size must be positive, not {size}")
        if not _is_int(misalign) or not 0 <= misalign < _ALIGN:
            raise HeapError(f"hmm: Heap(): misalign must be an int in 0..{_ALIGN - 1}, not {misalign!r}")
        if not _is_int(maps) or not 0 <= maps <= size // 2:
            raise HeapError(f"hmm: Heap(): maps must be an int in 0..size/2, not {maps!r}")
        core = _load_core()
        self._ffi, self._lib = core.ffi, core.lib
        ffi, lib = self._ffi, self._lib
        # The core's state lives in this buffer: it must outlive the heap
        # handle, so the object keeps it.
        self._buffer = ffi.new("char[]", size + 2 * _ALIGN)
        raw = int(ffi.cast("uintptr_t", self._buffer))
        start = (raw + _ALIGN - 1) // _ALIGN * _ALIGN + misalign
        self.address = start
        self.size = size
        # cffi releases the GIL around C calls and the core has no lock of
        # its own: one lock per heap makes each operation, and the fault it
        # records, atomic for Python threads.
        self._lock = threading.RLock()
        self._message = ffi.new("char[]", 512)
        self._faults = _fault_names()
        self._maps = maps
        self._heap = lib.hmm_heap_create_simulated_with_maps(ffi.cast("void *", start), size, maps)
        if self._heap == ffi.NULL:
            raise HeapError(f"hmm: Heap(): {size} bytes is too small to hold a heap")
        self._stat_names = [
            ffi.string(lib.hmm_stats_name(i)).decode("ascii")
            for i in range(lib.hmm_stats_count())
        ]
        self._stats_buffer = ffi.new("char[]", lib.hmm_stats_size())
        self._stats = ffi.cast("hmm_stats *", self._stats_buffer)
        self._set_policy("Heap", policy)
        if check not in (0, 1, 2):
            raise HeapError(f"hmm: Heap(): check must be 0, 1 or 2, not {check!r}")
        check_every = self._size("Heap", "check_every", check_every)
        if check_every >= 1 << 32:
            raise HeapError(f"hmm: Heap(): check_every {check_every} does not fit in 32 bits")
        lib.hmm_heap_set_check(self._heap, check, check_every)
        self.check_level, self._check_every = check, check_every

    def _reset(self):
        """Empty the heap, in the same buffer (its blocks come back at the
        same addresses when the same calls are made again), keeping the
        policy.  For hmm.replay, which goes back by replaying."""
        with self._lock:
            policy = self.policy
            self._heap = self._lib.hmm_heap_create_simulated_with_maps(
                self._ffi.cast("void *", self.address), self.size, self._maps)
            self._set_policy("Heap", policy)
            self._lib.hmm_heap_set_check(self._heap, self.check_level, self._check_every)

    # ---- placement policy --------------------------------------------------

    @property
    def policy(self):
        """The placement policy in use: which free block serves a request."""
        with self._lock:
            return self._ffi.string(self._lib.hmm_heap_policy(self._heap)).decode("ascii")

    def set_policy(self, name):
        """Switch the placement policy to `name`, one of `hmm.POLICIES` (the
        core's table of policies; the first, "segregated", is the default).
        Blocks in use stay where they are; the free ones are re-filed under
        the new policy."""
        self._set_policy("set_policy", name)

    def _set_policy(self, call, name):
        # Checked here too: a str with a NUL in it would reach the core cut short.
        with self._lock:
            if name not in _policy_names() or \
                    self._lib.hmm_heap_set_policy(self._heap, name.encode("ascii")) != 0:
                raise HeapError(f"hmm: {call}(): unknown policy {name!r} "
                                f"(one of {', '.join(_policy_names())})")

    # ---- argument checks (what the core cannot see) ----------------------

    @staticmethod
    def _size(call, name, value):
        if not _is_int(value):
            raise HeapError(f"hmm: {call}(): {name} must be an int, not {type(value).__name__}")
        if value < 0:
            raise HeapError(f"hmm: {call}(): negative {name} {value}")
        if value >= _ADDRESS_LIMIT:
            raise HeapError(f"hmm: {call}(): {name} {value} does not fit in size_t")
        return value

    def _pointer(self, call, address):
        """The C pointer for `address`, which may be None (NULL)."""
        if address is None:
            return self._ffi.NULL
        if not _is_int(address):
            raise HeapError(f"hmm: {call}(): pointer must be an int or None, "
                            f"not {type(address).__name__}")
        if not self.address <= address < self.address + self.size:
            # Outside the buffer is outside anything the core could have
            # handed out; refusing it here means the core is never asked to
            # look at memory Python does not own.
            raise HeapError(f"hmm: {call}(): invalid pointer {address:#x} "
                            f"(not a block from this heap)", "invalid_pointer")
        return self._ffi.cast("void *", address)

    def _result(self, pointer):
        return None if pointer == self._ffi.NULL else int(self._ffi.cast("uintptr_t", pointer))

    def _raise_fault(self):
        fault = self._lib.hmm_heap_last_fault(self._heap, self._message, len(self._message))
        if fault != self._lib.HMM_FAULT_NONE:
            message = self._ffi.string(self._message).decode("utf-8", "replace")
            raise HeapError(message or f"hmm: fault {fault}",
                            self._faults.get(fault, str(fault)))

    def _call(self, function, *args):
        with self._lock:
            result = function(self._heap, *args)
            self._raise_fault()
        return result

    # ---- the allocator ---------------------------------------------------

    def alloc(self, n):
        """malloc(n): the address of a new block, or None when full.
        ``alloc(0)`` returns a unique minimum-size block, as glibc does."""
        n = self._size("malloc", "size", n)
        return self._result(self._call(self._lib.hmm_heap_alloc, n))

    def calloc(self, n, size):
        """calloc(n, size): a zeroed block of n * size bytes, or None."""
        n = self._size("calloc", "count", n)
        size = self._size("calloc", "size", size)
        return self._result(self._call(self._lib.hmm_heap_calloc, n, size))

    def realloc(self, address, n):
        """realloc(address, n): the block's new address (None on failure,
        when the old block stays valid).  ``realloc(None, n)`` allocates;
        ``realloc(address, 0)`` frees and returns None."""
        n = self._size("realloc", "size", n)
        pointer = self._pointer("realloc", address)
        return self._result(self._call(self._lib.hmm_heap_realloc, pointer, n))

    def memalign(self, alignment, n):
        """memalign(alignment, n): a block whose address is a multiple of
        `alignment`, or None.  As glibc's memalign, an alignment that is not
        a power of two is rounded up to one, and 16 or less is plain
        alloc (every block is 16-aligned)."""
        alignment = self._size("memalign", "alignment", alignment)
        n = self._size("memalign", "size", n)
        return self._result(self._call(self._lib.hmm_heap_memalign, alignment, n))

    def free(self, address):
        """free(address).  ``free(None)`` does nothing."""
        pointer = self._pointer("free", address)
        self._call(self._lib.hmm_heap_free, pointer)

    def usable_size(self, address):
        """malloc_usable_size(address): the bytes usable in a live block
        (0 for None)."""
        pointer = self._pointer("malloc_usable_size", address)
        return self._call(self._lib.hmm_heap_usable_size, pointer)

    def trim(self, pad=0):
        """malloc_trim(pad): give free memory at the top back, keeping `pad`
        bytes.  True if anything was released."""
        pad = self._size("malloc_trim", "pad", pad)
        return bool(self._call(self._lib.hmm_heap_trim, pad))

    # ---- looking inside --------------------------------------------------

    @property
    def start(self):
        """Where the heap's blocks begin (the ``heap_start`` stat), the
        origin of `Block.offset`."""
        return self.stats().get("heap_start") or self.address

    def _blocks(self):
        """Yield (address, size, usable, used) in address order."""
        ffi, lib = self._ffi, self._lib
        cursor = ffi.new("hmm_walk_cursor *")
        info = ffi.new("hmm_block_info *")
        low, end = self.address, self.address + self.size
        # The walker trusts the size words it steps over.  On a corrupted
        # heap they could send it out of the buffer or round in circles, so
        # each step must land further up inside the buffer before the next
        # one reads there (segments and blocks come in address order).
        while True:
            with self._lock:
                if not lib.hmm_heap_walk(self._heap, cursor, info):
                    return
                block = (int(ffi.cast("uintptr_t", info.address)), info.size,
                         info.usable, bool(info.used))
            if not low < block[0] <= block[0] + block[1] <= end:
                raise HeapError(f"hmm: walk(): block at {block[0]:#x} of {block[1]} bytes "
                                "is out of place (corrupt heap)", "corrupt_header")
            low = block[0]
            yield block

    def walk(self):
        """Every block, used and free, in address order, as `Block`s."""
        start = self.start
        with self._lock:
            return [Block(a, s, u, used, a - start) for a, s, u, used in self._blocks()]

    def check(self):
        """The number of broken invariants: 0 for a healthy heap."""
        with self._lock:
            return self._lib.hmm_heap_check(self._heap, self._ffi.NULL, 0)

    def check_report(self):
        """What `check` found, one problem per line ('' when healthy)."""
        why = self._ffi.new("char[]", 4096)
        with self._lock:
            count = self._lib.hmm_heap_check(self._heap, why, len(why))
        text = self._ffi.string(why).decode("utf-8", "replace").strip()
        if count and not text:
            text = f"{count} broken invariant(s)"
        return text if count else ""

    def stats(self):
        """The core's counters, as a dict name -> int."""
        lib = self._lib
        with self._lock:
            lib.hmm_heap_stats(self._heap, self._stats)
            return {name: int(lib.hmm_stats_value(self._stats, i))
                    for i, name in enumerate(self._stat_names)}

    # ---- the bytes inside blocks -----------------------------------------

    def _span(self, call, address, n):
        """Check that [address, address + n) lies in one live block's usable
        bytes; n None means up to the end of the block.  Return n."""
        if not _is_int(address):
            raise HeapError(f"hmm: {call}(): address must be an int, not {type(address).__name__}")
        if n is not None:
            n = self._size(call, "length", n)
        for block_address, _, usable, used in self._blocks():
            if block_address > address:
                break
            # (a block of 0 usable bytes, malloc(0) in check mode, still
            # takes an empty read or write at its address)
            if used and (address < block_address + usable or address == block_address):
                end = block_address + usable
                if n is None:
                    n = end - address
                if address + n > end:
                    raise HeapError(
                        f"hmm: {call}(): {n} bytes at {address:#x} run {address + n - end} "
                        f"bytes past the end of the block at {block_address:#x} "
                        f"({usable} usable bytes)")
                return n
        raise HeapError(f"hmm: {call}(): {address:#x} is not inside a block in use")

    def read(self, address, n=None):
        """The `n` bytes at `address` (default: to the end of its block).
        The span must lie inside one live block's usable bytes."""
        with self._lock:
            n = self._span("read", address, n)
            return self._ffi.buffer(self._ffi.cast("char *", address), n)[:]

    def write(self, address, data):
        """Copy `data` (bytes-like) to `address`, inside one live block."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise HeapError(f"hmm: write(): data must be bytes-like, not {type(data).__name__}")
        data = bytes(data)
        with self._lock:
            self._span("write", address, len(data))
            self._ffi.memmove(self._ffi.cast("char *", address), data, len(data))

    def scribble(self, address, data):
        """Write `data` at `address`, anywhere in the heap's memory, live
        block or not: over a header, past the end of a block, into a freed
        one.  This is how to show what the allocator makes of a buggy
        program's writes (``write`` refuses them)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise HeapError(f"hmm: scribble(): data must be bytes-like, not {type(data).__name__}")
        data = bytes(data)
        if not _is_int(address) or not (
                self.address <= address and address + len(data) <= self.address + self.size):
            raise HeapError(f"hmm: scribble(): {len(data)} bytes at {address!r} "
                            f"are not all inside the heap's memory")
        with self._lock:
            self._ffi.memmove(self._ffi.cast("char *", address), data, len(data))

    # ---- printing --------------------------------------------------------

    def dump(self):
        """A table of the block list, for reading (what ``str(heap)`` is)."""
        stats = self.stats()
        blocks = self.walk()
        used = [b for b in blocks if b.used]
        free = [b for b in blocks if not b.used]
        start = self.start
        lines = [
            f"heap at {start:#x}: {stats.get('heap_size', 0)} bytes below the break "
            f"(buffer of {self.size} bytes at {self.address:#x})",
            f"{len(blocks)} blocks: {len(used)} used ({sum(b.size for b in used)} bytes), "
            f"{len(free)} free ({sum(b.size for b in free)} bytes)",
        ]
        if blocks:
            width = max(6, len(f"+{blocks[-1].offset:#x}"))
            lines.append(f"  {'offset':>{width}} {'size':>9} {'usable':>9}  state")
            for b in blocks:
                usable = b.usable if b.used else "-"
                lines.append(f"  {'+' + format(b.offset, '#x'):>{width}} {b.size:>9} "
                             f"{usable:>9}  {'used' if b.used else 'free'}")
        return "\n".join(lines)

    __str__ = dump

    def __repr__(self):
        stats = self.stats()
        return (f"<hmm.Heap of {self.size} bytes at {self.address:#x}: "
                f"policy={self.policy} blocks_in_use={stats.get('blocks_in_use')} "
                f"bytes_in_use={stats.get('bytes_in_use')}>")
