"""HMM, the Heap Memory Manager: a small malloc you can read, preload and watch.

* ``Heap``: the allocator core over a buffer Python owns, to drive and look
  into block by block (``hmm._core``, loaded on first use).
* ``POLICIES``: the names of the core's placement policies, default first.
* ``FAULTS``: the names of the misuse the core finds (``HeapError.fault``).
* ``OPTIONS``: the ``HMM_*`` options of ``libhmm.so``, with their defaults.
* ``run``: run a program with ``libhmm.so`` preloaded and collect its stats.
* ``library_path``: where ``libhmm.so`` is, for LD_PRELOAD.
* ``Trace``: a trace that ``hmm-run --trace`` wrote, read into numpy
  columns, with its summary, leaks and timeline (``hmm.trace``, loaded on
  first use); ``TraceError`` says what is wrong with a damaged one.

The command lines are ``hmm-run`` (or ``python -m hmm``), see ``hmm.cli``,
and ``hmm run|report|bench``, see ``hmm.command``.
"""
__version__ = "1.0.0"

from . import heap as _heap
from .heap import Block, Heap, HeapError, Option
from .library import library_path
from .runner import HmmProcess, preload_env, run

__all__ = [
    "Block",
    "Heap",
    "HeapError",
    "FAULTS",
    "HmmProcess",
    "OPTIONS",
    "Option",
    "POLICIES",
    "Trace",
    "TraceError",
    "__version__",
    "library_path",
    "preload_env",
    "run",
]


def __getattr__(name):
    # These come from the core, loaded on first use: `import hmm` alone
    # (hmm-run) must not need it.
    if name in ("POLICIES", "FAULTS", "OPTIONS"):
        return getattr(_heap, name)
    # hmm.trace needs numpy: loaded only by those who read a trace.
    if name in ("Trace", "TraceError"):
        from . import trace
        return getattr(trace, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
