"""Build HMM's two native pieces from csrc/.

* ``hmm._core``: the cffi binding (API mode) of the allocator core alone.  It
  has no libc names, so importing it leaves Python's own malloc untouched;
  Python drives it over simulated heaps.
* ``hmm/libhmm.so``: the preload library, the core plus the process heap and
  every libc malloc name.  It depends on libc only.

This file is the one place that lists source files and compiler flags.
``pip install .`` reaches it through ``BuildExt`` (see pyproject.toml);
``python build_hmm.py`` builds both in place for development.

``HMM_SANITIZE=address,undefined python build_hmm.py --force`` builds
``hmm._core`` (never the preload library) with those sanitizers, for running
the Python tests under them (see .ci/run).  ``--force`` because a change of
flags alone does not make setuptools rebuild; do it again without the
variable to get the normal core back.
"""
import os
import sys
from pathlib import Path

from cffi import FFI
from setuptools import Extension
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
CSRC = "csrc"

# The core: block layout, placement, the simulated source, checking, stats.
CORE_SOURCES = [
    "heap.c",
    "large.c",
    "segment_map.c",
    "placement.c",
    "placement_list.c",
    "placement_segregated.c",
    "source_simulated.c",
    "check.c",
    "check_mode.c",
    "stats.c",
    "misuse.c",
    "validate.c",
    "format.c",
    "option_table.c",
]
# The binding adds the trace reader, which hmm.trace drives, and the replay
# of a trace on a simulated heap (the preload libraries have no use for
# either).
BINDING_SOURCES = CORE_SOURCES + [
    "trace_read.c",
    "replay.c",
    "list_index.c",
]
# The preload library adds the OS source, the process heap and the libc names.
PRELOAD_SOURCES = CORE_SOURCES + [
    "source_os.c",
    "thread_cache.c",
    "depot.c",
    "options.c",
    "report.c",
    "lock.c",
    "process_heap.c",
    "arena.c",
    "reserve.c",
    "fork.c",
    "malloc_api.c",
    "malloc_info.c",
]

# libhmm-trace.so: the same library built with HMM_TRACING, whose libc names
# record every call (csrc/trace.h).  A library of its own, so that libhmm.so
# has not one instruction of the tracer.
TRACE_SOURCES = PRELOAD_SOURCES + [
    "trace.c",
    "trace_unwind.c",
    "trace_cfi.c",
    "trace_api.c",
]

COMMON_CFLAGS = ["-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-fvisibility=hidden"]
PRELOAD_CFLAGS = COMMON_CFLAGS + [
    "-fPIC",
    "-ftls-model=initial-exec",  # dlopen-safe TLS that never allocates
    "-fno-builtin-malloc",       # our own malloc must not be "optimised" into itself
    "-fno-builtin-calloc",
    "-fno-builtin-free",
    "-fno-builtin-realloc",
]
# -z defs: every symbol must resolve at link time (against libc only).
PRELOAD_LDFLAGS = ["-Wl,-z,defs", "-Wl,-z,relro", "-Wl,-z,now", "-Wl,--as-needed"]
# Compile and link flags of a sanitized hmm._core (-O1 overrides -O2).
_SANITIZE = os.environ.get("HMM_SANITIZE")
SANITIZE_FLAGS = [f"-fsanitize={_SANITIZE}", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "-O1"] if _SANITIZE else []

# What Python sees of the core: the part of hmm.h between its two markers
# (the seed API before it is the process heap's, which the core has not).
# Read from the header itself, so that the binding cannot drift from it.
BINDING_BEGIN = "HMM_BINDING_BEGIN"
BINDING_END = "HMM_BINDING_END"


# The headers whose declarations make the binding: the core's, the trace
# reader's and the replay's (which hmm.trace and hmm.replay drive).
BINDING_HEADERS = ["hmm.h", "trace_read.h", "replay.h"]


def binding_declarations(header=None):
    """The cffi declarations of one header (all of BINDING_HEADERS when
    none is given): from the line after the comment that holds
    BINDING_BEGIN to the line that holds BINDING_END."""
    if header is None:
        return "".join(binding_declarations(HERE / CSRC / name) for name in BINDING_HEADERS)
    text = Path(header).read_text()
    lines = text.splitlines()
    begin = next(i for i, line in enumerate(lines) if BINDING_BEGIN in line)
    while "*/" not in lines[begin]:  # the rest of the comment that opens it
        begin += 1
    end = next(i for i in range(begin + 1, len(lines)) if BINDING_END in lines[i])
    return "\n".join(lines[begin + 1:end]) + "\n"


def _csrc(names):
    return [f"{CSRC}/{name}" for name in names]


def _headers():
    return sorted(f"{CSRC}/{p.name}" for p in (HERE / CSRC).glob("*.h"))


def make_ffi():
    ffi = FFI()
    ffi.cdef(binding_declarations())
    ffi.set_source("hmm._core", "".join(f'#include "{name}"\n' for name in BINDING_HEADERS))
    return ffi


def extensions():
    """The two native modules, with paths relative to the project root."""
    return [
        Extension(
            "hmm._core",
            sources=_csrc(BINDING_SOURCES),  # the cffi wrapper is added by BuildExt
            include_dirs=[CSRC],
            depends=_headers(),
            extra_compile_args=COMMON_CFLAGS + SANITIZE_FLAGS,
            extra_link_args=SANITIZE_FLAGS,
        ),
        Extension(
            "hmm.libhmm",
            sources=_csrc(PRELOAD_SOURCES),
            include_dirs=[CSRC],
            depends=_headers(),
            extra_compile_args=PRELOAD_CFLAGS,
            extra_link_args=PRELOAD_LDFLAGS,
        ),
        Extension(
            "hmm.libhmm_trace",
            sources=_csrc(TRACE_SOURCES),
            include_dirs=[CSRC],
            depends=_headers(),
            define_macros=[("HMM_TRACING", "1")],
            extra_compile_args=PRELOAD_CFLAGS,
            extra_link_args=PRELOAD_LDFLAGS,
        ),
    ]


# The preload libraries: module name -> the file name users and LD_PRELOAD see.
PRELOAD_LIBRARIES = {"hmm.libhmm": "libhmm.so", "hmm.libhmm_trace": "libhmm-trace.so"}


class BuildExt(build_ext):
    """build_ext that takes its modules from this file and emits the cffi C."""

    def finalize_options(self):
        self.distribution.ext_modules = extensions()
        super().finalize_options()

    def build_extension(self, ext):
        if ext.name in PRELOAD_LIBRARIES:
            self._link_like_a_plain_library()
        if ext.name == "hmm._core":
            wrapper = Path(self.build_temp) / "hmm_core_cffi.c"
            wrapper.parent.mkdir(parents=True, exist_ok=True)
            make_ffi().emit_c_code(str(wrapper))
            ext.sources = [str(wrapper)] + [s for s in ext.sources if s != str(wrapper)]
        super().build_extension(ext)

    def _link_like_a_plain_library(self):
        # Python's own link line may carry -L/-rpath entries for its
        # installation (some Python builds' do); the preload library needs libc only
        # and must not embed paths of the machine that built it.
        self.compiler.linker_so = [
            arg for arg in self.compiler.linker_so
            if not arg.startswith(("-L", "-Wl,-rpath", "-Wl,-R"))
        ]

    def get_ext_filename(self, fullname):
        # The preload library is a plain shared object, not a Python module:
        # give it the name users and LD_PRELOAD expect.
        # distutils asks with the last name only ("libhmm") when it places
        # the build, setuptools with the full name when it copies in place.
        if fullname in PRELOAD_LIBRARIES:
            return os.path.join("hmm", PRELOAD_LIBRARIES[fullname])
        if f"hmm.{fullname}" in PRELOAD_LIBRARIES:
            return PRELOAD_LIBRARIES[f"hmm.{fullname}"]
        return super().get_ext_filename(fullname)

    def get_export_symbols(self, ext):
        if ext.name in PRELOAD_LIBRARIES:
            return []  # no PyInit_ function: it is not a Python module
        return super().get_export_symbols(ext)


def build_in_place():
    from setuptools import setup

    os.chdir(HERE)
    setup(
        name="hmm",
        packages=["hmm"],
        ext_modules=extensions(),
        cmdclass={"build_ext": BuildExt},
        script_args=["build_ext", "--inplace"] + sys.argv[1:],
    )


if __name__ == "__main__":
    build_in_place()
