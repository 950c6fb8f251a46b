"""The inputs of the real-program workloads, generated on the spot.

Every generator is a pure function of its size and a fixed seed, so two
runs of the benchmark (and every allocator within one) see the same bytes.
Files get a fixed modification time, since ``ls -l`` prints it.
"""
import os
import random

# 2021-01-01 00:00:00 UTC: the time stamp of every generated file.
FIXED_MTIME = 1609459200

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu "
         "xi omicron pi rho sigma tau upsilon phi chi psi omega malloc free heap "
         "block arena chunk page slab bin cache thread lock").split()


def _write(path, text):
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def c_source(path, functions):
    """A C file of `functions` independent functions with loops, switches
    and struct accesses: plenty of work for gcc's optimiser, which
    allocates a great deal (trees, RTL, bitmaps, hash tables)."""
    rnd = random.Random(1)
    out = ["#include <string.h>",
           "struct rec { int id; long total; double ratio; char name[24]; struct rec *next; };",
           "static int table[256];",
           "long ext(long);"]
    for i in range(functions):
        a, b, c = rnd.randrange(1, 97), rnd.randrange(1, 89), rnd.randrange(3, 9)
        cases = "\n".join(f"        case {k}: acc += x * {rnd.randrange(1, 50)} + {k}; break;"
                          for k in range(c))
        out.append(f"""
long f{i}(long x, struct rec *r)
{{
    long acc = {a};
    for (int i = 0; i < (int)(x & 63); i++) {{
        switch ((x + i) % {c}) {{
{cases}
        default: acc ^= table[(x + i) & 255];
        }}
        if (r && r->id == i) {{ r->total += acc; r->ratio = (double)acc / (i + {b}); }}
    }}
    while (r) {{ acc += r->total * {b} + (long)strlen(r->name); r = r->next; }}
    return acc + (ext(x + {a}) & {a});
}}""")
    _write(path, "\n".join(out) + "\n")


def text_lines(path, lines, seed=2):
    """`lines` lines of words and numbers, some repeated, some commented
    out: input for sort and vim."""
    rnd = random.Random(seed)
    out = []
    for i in range(lines):
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(2, 7)))
        tag = f"{rnd.choice(WORDS)}-{rnd.randrange(1000)}"
        prefix = "# " if rnd.random() < 0.05 else ""
        out.append(f"{prefix}{tag} {words} {rnd.randrange(10 ** 6)}{'  ' if i % 17 == 0 else ''}")
    _write(path, "\n".join(out) + "\n")


def compressible(path, megabytes, seed=3):
    """About `megabytes` MiB of text that compresses like real data
    (repeated phrases, numbers, some noise): input for xz."""
    rnd = random.Random(seed)
    phrases = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(3, 12)))
               for _ in range(400)]
    target = megabytes * 1024 * 1024
    chunks, size = [], 0
    while size < target:
        line = f"{rnd.choice(phrases)} {rnd.randrange(10 ** 9):x} {rnd.choice(phrases)}\n"
        chunks.append(line)
        size += len(line)
    _write(path, "".join(chunks))


def tree(root, files, seed=4, version=1, lines=(1, 40)):
    """A directory tree of `files` text files of `lines` (a range) lines,
    20 to a directory, three levels deep.  `version` 2 and 3 change a few
    files, add some and remove some, as successive commits of a project do."""
    rnd = random.Random(seed)
    made = 0
    index = 0
    while made < files:
        d = os.path.join(root, f"d{index // 400:02d}", f"s{index // 20 % 20:02d}")
        os.makedirs(d, exist_ok=True)
        for k in range(20):
            if made >= files:
                break
            number = index * 20 + k
            text = [f"{number} {rnd.choice(WORDS)} {rnd.randrange(10 ** 6)}"
                     for _ in range(rnd.randrange(*lines))]
            made += 1
            if version >= 2 and number % 13 == 0:
                text.insert(len(text) // 2, f"changed in v{version}")
            if version >= 3 and number % 29 == 0:
                continue                      # removed in v3
            _write(os.path.join(d, f"file{number:06d}.txt"), "\n".join(text) + "\n")
        index += 1
    if version >= 2:
        extra = os.path.join(root, f"new-in-v{version}")
        os.makedirs(extra, exist_ok=True)
        for k in range(max(1, files // 50)):
            _write(os.path.join(extra, f"n{k:05d}.txt"), f"{k} {rnd.choice(WORDS)}\n")
    for directory, _, _ in os.walk(root):
        os.utime(directory, (FIXED_MTIME, FIXED_MTIME))
