"""realloc in check mode (HMM_CHECK): no copy of the whole block per call.

Check mode used to move every block on every realloc, so the usual
`buf = realloc(buf, len + 4096)` read loop copied everything read so far on
each call: 6 s for an 8 MB file, and four times as long for each doubling of it.  Mapped blocks are now resized with
mremap and sealed again, and blocks of the heap (which still move, so that a
stale pointer points at filled free memory) stay below the mmap threshold,
which check mode keeps from adapting upwards."""
import re
import time

import hmm


def test_realloc_read_loop_in_check_mode(tmp_path, compile_c, run_both, same, served, support):
    data = tmp_path / "input.txt"
    line = bytes(range(32, 127)) + b"\n"
    with data.open("wb") as f:
        # 32 MB: the old quadratic loop takes minutes on it, well past the
        # bound below; the fixed one a tenth of a second.
        for i in range(32 * 1024 * 1024 // len(line)):
            f.write(line[i % 50:] + line[:i % 50])
    exe = compile_c("realloc_read_loop.c")
    started = time.monotonic()
    # Generous: the bound is for a hang, not a measure (that is reported).
    both = run_both([str(exe), str(data)], text=True, timeout=20,
                    env=support.base_env(HMM_CHECK="1"))
    elapsed = time.monotonic() - started
    same(both)
    assert both.glibc.stdout.startswith(f"read {data.stat().st_size} bytes"), both.glibc.stdout
    stats = served(both.hmm, min_allocs=8000)
    assert stats["check"] == 1, stats
    assert stats["realloc_calls"] >= 8000, stats
    print(f"glibc + HMM_CHECK=1 runs: {elapsed:.2f} s")


def test_free_of_pointer_moved_by_mremap_is_a_double_free(compile_c, support):
    exe = compile_c("check_free_after_mremap.c")
    proc = hmm.run([str(exe)], env=support.base_env(HMM_CHECK="1"), capture_output=True,
                   text=True, timeout=support.TIMEOUT)
    assert proc.returncode == -6, (proc.returncode, proc.stdout, proc.stderr)
    old = proc.stdout.split()[0]
    assert "survived" not in proc.stdout
    assert re.fullmatch(rf"hmm: free\(\): double free of {old} \(block of \d+ bytes\)",
                        proc.stderr.strip().splitlines()[0]), proc.stderr
