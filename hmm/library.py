"""Where the preload library lives.

``libhmm.so`` is built next to this package (``pip install .`` ships it
there, ``python build_hmm.py`` builds it there in place), so it is found from
the package's own location and never by a search: a search could pick up a
different build than the one this Python code belongs to.
"""
import os

LIBRARY_NAME = "libhmm.so"
# The same allocator built to record every call (hmm-run --trace).
TRACE_LIBRARY_NAME = "libhmm-trace.so"

BUILD_HINT = (
    "build it with `pip install .` (or `python build_hmm.py` for an in-place "
    "development build) from the HMM source tree"
)


def library_path(name=LIBRARY_NAME):
    """Return the absolute path of the ``libhmm.so`` shipped with this package
    (or of `name`, another library shipped with it: TRACE_LIBRARY_NAME).

    Raises FileNotFoundError, saying how to build it, when it is missing.
    """
    package_dir = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(package_dir, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"the HMM preload library is missing: {path} does not exist; {BUILD_HINT}"
        )
    return path


def preload_value(library, current=None):
    """The LD_PRELOAD value that puts `library` first and keeps `current`.

    Prepending (rather than overwriting) keeps whatever another tool already
    preloads, as heaptrack and libfaketime do.  An earlier copy of `library`
    in `current` is dropped so that nested runs do not pile up entries.
    """
    if any(c in library for c in ": \t\n"):
        # The loader splits LD_PRELOAD at colons and white space: such a
        # path would be cut in pieces and silently not preloaded.
        raise ValueError(
            f"cannot preload {library!r}: LD_PRELOAD cannot hold a path with "
            "a colon or white space; install HMM under another directory"
        )
    kept = [entry for entry in (current or "").split(":") if entry and entry != library]
    return ":".join([library] + kept)
