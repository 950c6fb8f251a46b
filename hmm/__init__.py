"""HMM, the Heap Memory Manager: a small malloc you can read, preload and watch.

* ``Heap``: the allocator core over a buffer Python owns, to drive and look
  into block by block (``hmm._core``, loaded on first use).
* ``run``: run a program with ``libhmm.so`` preloaded and collect its stats.
* ``library_path``: where ``libhmm.so`` is, for LD_PRELOAD.

The command line is ``hmm-run`` (or ``python -m hmm``), see ``hmm.cli``.
"""
__version__ = "1.0.0"

from .heap import Block, Heap, HeapError
from .library import library_path
from .runner import HmmProcess, preload_env, run

__all__ = [
    "Block",
    "Heap",
    "HeapError",
    "HmmProcess",
    "__version__",
    "library_path",
    "preload_env",
    "run",
]
