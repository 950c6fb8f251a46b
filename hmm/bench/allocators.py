"""The allocators the benchmark compares, and how each one is put in place.

* ``glibc``: the C library's own malloc, nothing preloaded.  Every ratio in
  the report is relative to it.
* ``hmm``: ``libhmm.so`` under its default placement policy, and
  ``hmm-POLICY`` for each other policy (``HMM_POLICY=POLICY``).
* the peers: other preloadable mallocs found on the machine (jemalloc,
  mimalloc, tcmalloc as Debian packages them), or named on the command line
  with ``--lib NAME=PATH``.
* the tracers, run only when named with --allocators: ``hmm-trace``
  (``libhmm-trace.so`` recording every call, no stacks), ``hmm-trace-stacks``
  (the same with stacks of the default depth) and ``heaptrack`` (Debian's
  heap profiler, over glibc), so that what tracing costs is measured side
  by side with untraced HMM and with a peer profiler.
"""
import glob
import os
import shutil
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


# In an allocator's env and wrapper, RUNDIR stands for the directory of
# the run (removed after it): where a tracer writes its file.
RUNDIR = "{rundir}"


@dataclass
class Allocator:
    name: str
    library: str = None          # the file to preload; None for glibc
    env: dict = field(default_factory=dict)   # what else the runs get
    kind: str = "peer"           # "glibc", "hmm", "peer" or "tracer"
    origin: str = None           # where `library` was copied from, if it was
    wrapper: tuple = ()          # a command the run goes through (heaptrack -o ...)
    default: bool = True         # runs unless --allocators leaves it out
    # The wrapper's own lines around the program's stdout: (the lines it
    # prints before, each by how it starts; the text it prints after, from
    # where it starts: the program's output may not end in a newline), which
    # are removed before the output is compared with glibc's.
    banner: tuple = ((), None)

    def env_for(self, rundir):
        return {k: v.replace(RUNDIR, str(rundir)) for k, v in self.env.items()}

    def argv_for(self, argv, rundir):
        return [a.replace(RUNDIR, str(rundir)) for a in self.wrapper] + list(argv)

    def strip_banner(self, path):
        """Remove the wrapper's banner lines from the stdout file at `path`
        (they are checked: a line that is not the banner's stays)."""
        before, after = self.banner
        if not before and not after:
            return
        data = path.read_bytes()
        for start in before:
            line, sep, rest = data.partition(b"\n")
            if sep and line.startswith(start.encode()):
                data = rest
        if after:
            at = data.rfind(after.encode())
            if at >= 0 and data.count(b"\n", at) <= 4:
                data = data[:at]
        path.write_bytes(data)

    def describe(self):
        what = self.origin or self.library or "(no preload)"
        if self.wrapper:
            what = " ".join(self.wrapper) + " ..."
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        return f"{what} {extra}".strip()

    def as_json(self):
        return {"name": self.name, "kind": self.kind, "library": self.origin or self.library,
                "env": dict(self.env), "wrapper": list(self.wrapper)}


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


def available(extra_libs=(), hmm_library=None, trace_library=None):
    """Every allocator this machine offers, in report order: glibc, hmm and
    its policies, the peers found, those of `extra_libs` (pairs (name,
    path), which override a peer found under the same name), then the
    tracers (not run by default).

    `hmm_library`, `trace_library`: the paths of libhmm.so and
    libhmm-trace.so, or None when not built (their entries are left out)."""
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
    if trace_library:
        trace = os.path.join(RUNDIR, "trace.%p")
        result.append(Allocator("hmm-trace", trace_library,
                                {"HMM_TRACE": trace, "HMM_TRACE_DEPTH": "0"},
                                kind="tracer", default=False))
        result.append(Allocator("hmm-trace-stacks", trace_library, {"HMM_TRACE": trace},
                                kind="tracer", default=False))
    heaptrack = shutil.which("heaptrack")
    if heaptrack:
        result.append(Allocator("heaptrack", None, kind="tracer", default=False,
                                wrapper=(heaptrack, "-o", os.path.join(RUNDIR, "heaptrack")),
                                banner=(("heaptrack output will be written to", "/",
                                         "starting application"),
                                        "Heaptrack finished! Now run the following")))
    return result


def library_reads_policy(path):
    """Whether the library at `path` knows the HMM_POLICY option at all (an
    older build ignores it, and every hmm-POLICY would measure the default)."""
    try:
        with open(path, "rb") as f:
            return b"HMM_POLICY" in f.read()
    except OSError:
        return False
