"""The stand-in break (source_os.c), used once the real break cannot grow,
must not cost address space that glibc would not.

It used to reserve up to 64 GiB of address space at once: with RLIMIT_AS
set, that reservation made a large request fail that glibc serves, and
without one the virtual size grew by 64 GiB.  Reservations now follow what
the heap holds (a third of it), are extended in place where they can be,
fall back to the exact need, and give their unused room back when a mapping
fails for want of address space."""


def test_large_request_under_rlimit_as_with_the_break_blocked(compile_c, run_both, same, served):
    exe = compile_c("standin_rlimit.c")
    both = run_both([str(exe)], text=True)
    same(both)
    assert both.glibc.stdout.count(": ok") == 4, both.glibc.stdout
    stats = served(both.hmm, min_allocs=65536)
    assert stats["segments"] >= 2, stats  # the heap did grow past the blocked break
    assert stats["mapped_blocks"] == 0, stats


def test_virtual_size_with_the_break_blocked(compile_c, run_both, same, served, support):
    exe = compile_c("standin_vmsize.c")
    both = run_both([str(exe)], text=True)
    same(both)
    assert "FAILED" not in both.glibc.stdout, both.glibc.stdout
    vmsize = support.stderr_numbers(both, "vmsize_kib")
    assert vmsize["glibc"] > 200 * 1024, vmsize
    assert vmsize["hmm"] <= 1.5 * vmsize["glibc"], vmsize
    stats = served(both.hmm, min_allocs=400_000)
    assert stats["peak_heap_size"] >= 200 << 20, stats
    assert stats["segments"] >= 2, stats


def test_reserved_room_is_given_back_when_a_mapping_needs_it(compile_c, run_both, same, served):
    exe = compile_c("standin_spare.c")
    both = run_both([str(exe)], text=True)
    same(both)
    assert both.glibc.stdout.count(": ok") == 3, both.glibc.stdout
    stats = served(both.hmm, min_allocs=60 * 8192)
    assert stats["segments"] >= 2, stats


def test_block_bigger_than_the_break_was_asked_for(compile_c, run_both, same, served):
    """The break jumps to the stand-in while the heap asked it for only what
    a block lacked beyond the free top: the new segment is smaller than the
    block, and must grow before the block is carved (it used to be carved
    past the segment's end: SIGSEGV, under valgrind's capped break too)."""
    exe = compile_c("standin_big_block.c")
    both = run_both([str(exe)], text=True)
    same(both)
    assert "FAILED" not in both.glibc.stdout and both.glibc.returncode == 0, both.glibc.stdout
    stats = served(both.hmm)
    assert stats["segments"] >= 2, stats  # the stand-in was in use
    assert stats["mapped_blocks"] == 0 and stats["peak_bytes_in_use"] >= 4 << 20, stats
