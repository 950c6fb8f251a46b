"""The allocators the benchmark compares, and how each one is put in place.

* ``glibc``: the C library's own malloc, nothing preloaded.  Every ratio in
  the report is relative to it.
* ``hmm``: ``libhmm.so`` under its default placement policy, and
  ``hmm-POLICY`` for each other policy (``HMM_POLICY=POLICY``).
* the peers: other preloadable mallocs found on the machine (jemalloc,
  mimalloc, tcmalloc as Debian packages them), or named on the command line
  with ``--lib NAME=PATH``.
"""
import glob
import os
from dataclasses import dataclass, field

# Peer name -> the shared object's file name, as Debian ships it.
PEERS = {
    "jemalloc": "libjemalloc.so.2",        # libjemalloc2
    "mimalloc": "libmimalloc.so.2",        # libmimalloc2.0
    "tcmalloc": "libtcmalloc_minimal.so.4",  # libtcmalloc-minimal4
}

# Where a distribution keeps shared libraries; the multiarch directories
# (x86_64-linux-gnu, aarch64-linux-gnu, ...) are globbed, not spelled out.
LIBRARY_DIRS = ("/usr/lib/*-linux-*", "/lib/*-linux-*", "/usr/lib64", "/usr/lib",
                "/usr/local/lib")


@dataclass
class Allocator:
    name: str
    library: str = None          # the file to preload; None for glibc
    env: dict = field(default_factory=dict)   # what else the runs get
    kind: str = "peer"           # "glibc", "hmm" or "peer"
    origin: str = None           # where `library` was copied from, if it was

    def describe(self):
        what = self.origin or self.library or "(no preload)"
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        return f"{what} {extra}".strip()

    def as_json(self):
        return {"name": self.name, "kind": self.kind, "library": self.origin or self.library,
                "env": dict(self.env)}


def hmm_policies():
    """The placement policies of libhmm.so, default first, as the core lists
    them; () when the core cannot be asked (then only the default runs)."""
    try:
        import hmm
        return tuple(hmm.POLICIES)
    except Exception:   # the core is missing or older than the policies
        return ()


def _elf_machine(path):
    """(class, data, machine) of an ELF file, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "little" if head[5] == 1 else "big"
    return head[4], head[5], int.from_bytes(head[18:20], order)


def find_library(file_name, dirs=LIBRARY_DIRS, reference="/bin/sh"):
    """The first `file_name` in `dirs` (glob patterns) built for this
    machine (same ELF class and machine as `reference`), or None."""
    want = _elf_machine(os.path.realpath(reference))
    for pattern in dirs:
        for directory in sorted(glob.glob(pattern)):
            path = os.path.join(directory, file_name)
            if os.path.isfile(path) and (want is None or _elf_machine(path) == want):
                return path
    return None


def available(extra_libs=(), hmm_library=None):
    """Every allocator this machine offers, in report order: glibc, hmm and
    its policies, the peers found, then those of `extra_libs` (pairs
    (name, path), which override a peer found under the same name).

    `hmm_library`: the path of libhmm.so, or None when it is not built (the
    hmm allocators are then left out)."""
    result = [Allocator("glibc", kind="glibc")]
    if hmm_library:
        policies = hmm_policies()
        result.append(Allocator("hmm", hmm_library, kind="hmm"))
        for policy in policies[1:]:
            result.append(Allocator(f"hmm-{policy}", hmm_library,
                                    {"HMM_POLICY": policy}, kind="hmm"))
    extra = dict(extra_libs)
    for name, file_name in PEERS.items():
        path = find_library(file_name)
        if path and name not in extra:
            result.append(Allocator(name, path))
    for name, path in extra.items():
        result.append(Allocator(name, os.path.abspath(path)))
    return result


def library_reads_policy(path):
    """Whether the library at `path` knows the HMM_POLICY option at all (an
    older build ignores it, and every hmm-POLICY would measure the default)."""
    try:
        with open(path, "rb") as f:
            return b"HMM_POLICY" in f.read()
    except OSError:
        return False
