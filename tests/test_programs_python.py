"""CPython under HMM: PYTHONMALLOC=malloc sends every object to malloc."""
import os
import subprocess
import sys

import pytest

SINGLE = r"""
import hashlib, json, random

rng = random.Random(1234)
table = {f"key{i}": [i, str(i) * 3, {"n": i, "half": i / 2}] for i in range(50000)}
text = json.dumps(table, sort_keys=True)
back = json.loads(text)
assert back == table
print("json", len(text), hashlib.sha256(text.encode()).hexdigest())

numbers = [rng.random() for _ in range(100000)]
numbers.sort()
as_text = sorted(repr(x) for x in numbers)
print("sorted", numbers[0], numbers[-1], as_text[0], as_text[-1])

words = " ".join(f"w{i % 977}" for i in range(200000)).split()
counts = {}
for word in words:
    counts[word] = counts.get(word, 0) + 1
print("words", len(words), len(counts), max(counts.values()))

joined = "".join(as_text[:20000])
print("joined", len(joined), hashlib.sha256(joined.encode()).hexdigest())

blob = bytearray()
for i in range(10000):
    blob += bytes([i % 256]) * (i % 97)
    if i % 1000 == 999:
        del blob[: len(blob) // 3]
print("blob", len(blob), hashlib.md5(blob).hexdigest())

nested = [[list(range(i % 50)) for i in range(j % 40)] for j in range(3000)]
print("nested", sum(len(x) for row in nested for x in row))
del nested, table, back
sets = [frozenset(range(i, i + i % 30)) for i in range(20000)]
print("sets", len(set(sets)))
"""

THREADED = r"""
import hashlib, queue, threading

THREADS = 8
handoff = queue.Queue(maxsize=64)
local_digest = [None] * THREADS
consumed = [0] * THREADS

def producer(k):
    # Objects made here are freed by whichever consumer takes them.
    for i in range(3000):
        handoff.put({"k": k, "i": i,
                     "payload": [str(j) * (j % 13) for j in range(i % 50)],
                     "blob": bytes(i % 4096)})

def consumer(k):
    total = 0
    while True:
        item = handoff.get()
        if item is None:
            break
        total += len(item["payload"]) + len(item["blob"]) + item["i"]
        del item
    consumed[k] = total

def churn(k):
    h = hashlib.sha256()
    for round_ in range(30):
        local = {i: str(i * k) * (i % 7) for i in range(2000)}
        keys = sorted(local, key=lambda i: local[i])
        h.update(",".join(map(str, keys[:50])).encode())
        del local, keys
    local_digest[k] = h.hexdigest()[:16]

def worker(k):
    churn(k)
    (producer if k % 2 == 0 else consumer)(k)

threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
for t in threads:
    t.start()
for t in threads[0::2]:
    t.join()
for _ in range(THREADS // 2):
    handoff.put(None)
for t in threads[1::2]:
    t.join()
print("handoff total", sum(consumed))
for k, digest in enumerate(local_digest):
    print("thread", k, digest)
"""


@pytest.fixture(scope="module")
def python():
    """The system python (not a venv's), when there is one."""
    for candidate in ("/usr/bin/python3", sys.executable):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("no python3 interpreter found")


@pytest.mark.parametrize("name, script, min_allocs", [
    pytest.param("single", SINGLE, 100_000, id="single-threaded"),
    pytest.param("threaded", THREADED, 10_000, id="eight-threads"),
])
def test_python_same_as_glibc(tmp_path, run_both, same, served, support, python,
                              name, script, min_allocs):
    path = tmp_path / f"{name}.py"
    path.write_text(script)
    env = support.base_env(PYTHONMALLOC="malloc", PYTHONHASHSEED="0", LC_ALL="C.UTF-8")
    # -s -S: no user or site packages.  Not -I: its -E would drop PYTHONMALLOC.
    both = run_both([python, "-s", "-S", str(path)], env=env, text=True,
                    stdin=subprocess.DEVNULL)
    same(both)
    assert both.glibc.returncode == 0, both.glibc.stderr
    assert both.hmm.stderr == "", both.hmm.stderr
    assert len(both.hmm.stdout.splitlines()) >= 6
    stats = served(both.hmm, min_allocs=min_allocs)
    assert stats["free_calls"] > min_allocs // 2, stats
    assert stats["peak_bytes_in_use"] > 1_000_000, stats
