"""A program that frees everything keeps no more memory than under glibc.

Blocks parked in a thread cache are in use to the heap.  A program freeing
everything parked its last frees, which lie at the top of the heap, so the
break never came down: 458 MB resident against glibc's 17 MB after freeing
a million blocks in allocation order.  The heap now gives the calling
thread's parked blocks back each time half of what was in use is free
(heap.c drain_parked, thread_cache.c flush_mine), and the cache parks
nothing until the thread allocates again.  Resident memory is compared,
not time."""

import pytest


@pytest.mark.parametrize("order,smallest", [("forward", 140), ("alternate", 140),
                                            ("forward", 16), ("random", 16)])
def test_rss_after_freeing_everything(order, smallest, compile_c, run_both, same, served,
                                      support):
    exe = compile_c("free_all_rss.c")
    both = run_both([str(exe), order, str(smallest)], text=True)
    same(both)
    assert "FAILED" not in both.glibc.stdout, both.glibc.stdout
    rss = support.stderr_numbers(both, "rss_kib")
    assert rss["hmm"] <= 1.1 * rss["glibc"], rss
    stats = served(both.hmm, min_allocs=1_000_000)
    assert stats["free_calls"] >= 1_000_000, stats
    assert stats["blocks_in_use"] <= 2, stats  # stdout's buffer, at most
