"""A program that calls sbrk itself between allocations: one segment each time.

Finding the segment of a pointer outside the newest segment walked the list
of segments, so with N segments every free and realloc cost N steps (1,000
segments: 100 times glibc).  The segment map (segment_map.c) finds it in
O(1).  Here the program's output must match glibc's with thousands of
segments, the stats must show those segments, and the whole-heap checker
(check mode 2, every 500 calls) must find every segment sound along the way.
The time per free at 10 and 10,000 segments is measured by
benchmarks/stress/sbrk_segments.c, not asserted here."""
import re

import pytest

SEGMENTS = 3000


@pytest.mark.parametrize("check", [None, "2"])
def test_free_and_realloc_across_thousands_of_segments(check, compile_c, run_both, same,
                                                       served, support):
    exe = compile_c("sbrk_segments.c")
    extra = {"HMM_CHECK": check, "HMM_CHECK_EVERY": "500"} if check else {}
    both = run_both([str(exe), str(SEGMENTS)], text=True, env=support.base_env(**extra))
    same(both)
    assert "FAILED" not in both.glibc.stdout, both.glibc.stdout
    assert f"{2 * SEGMENTS} blocks freed: ok" in both.hmm.stdout, both.hmm.stdout
    stats = served(both.hmm, min_allocs=3 * SEGMENTS)
    # One segment per sbrk of the program, plus the first.
    assert stats["segments"] >= SEGMENTS, stats
    assert stats["realloc_calls"] >= 2 * SEGMENTS, stats
    assert stats["free_calls"] >= 3 * SEGMENTS, stats
    if check:
        assert stats["check"] == 2, stats
        reports = [line for line in both.hmm.stderr.splitlines() if re.match(r"hmm: \w+\(\): ", line)]
        assert reports == [], both.hmm.stderr
