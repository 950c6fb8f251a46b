"""An allocation-heavy Python program, for the benchmark.

    python3 python_alloc.py SCALE

Run with PYTHONMALLOC=malloc, every object goes through the C malloc: this
builds and throws away dicts, lists, strings and JSON documents, and prints
a digest of what it computed (the same under every allocator).
"""
import hashlib
import json
import sys


def records(n, seed):
    state = seed
    out = []
    for i in range(n):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out.append({
            "id": i,
            "name": f"item-{state % 100003:05d}",
            "tags": [f"t{(state >> k) % 97}" for k in range(0, 24, 6)],
            "score": (state % 10007) / 7.0,
            "nested": {"a": [state % 13] * (state % 5), "b": str(state)},
        })
    return out


def main():
    scale = int(sys.argv[1])
    digest = hashlib.sha256()
    for rnd in range(scale):
        docs = records(2000, rnd)
        text = json.dumps(docs, sort_keys=True)
        back = json.loads(text)
        index = {}
        for doc in back:
            for tag in doc["tags"]:
                index.setdefault(tag, []).append(doc["id"])
        words = " ".join(doc["name"] for doc in back).split()
        counts = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        joined = "".join(str(len(v)) for _, v in sorted(index.items()))
        digest.update(f"{len(text)} {top} {joined}".encode())
    print(f"python: {digest.hexdigest()} rounds {scale}")


main()
