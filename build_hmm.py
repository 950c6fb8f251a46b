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
]
# The preload library adds the OS source, the process heap and the libc names.
PRELOAD_SOURCES = CORE_SOURCES + [
    "source_os.c",
    "thread_cache.c",
    "depot.c",
    "options.c",
    "report.c",
    "process_heap.c",
    "reserve.c",
    "fork.c",
    "malloc_api.c",
    "malloc_info.c",
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

# What Python sees of the core: hmm.h without the seed (process heap) names.
CDEF = """
typedef struct hmm_heap hmm_heap;
hmm_heap *hmm_heap_create_simulated(void *buffer, size_t bytes);
int hmm_heap_set_policy(hmm_heap *heap, const char *name);
const char *hmm_heap_policy(const hmm_heap *heap);
const char *hmm_policy_name(int index);
void *hmm_heap_alloc(hmm_heap *heap, size_t size);
void *hmm_heap_calloc(hmm_heap *heap, size_t nmemb, size_t size);
void *hmm_heap_realloc(hmm_heap *heap, void *ptr, size_t size);
void *hmm_heap_memalign(hmm_heap *heap, size_t alignment, size_t size);
void hmm_heap_free(hmm_heap *heap, void *ptr);
size_t hmm_heap_usable_size(hmm_heap *heap, void *ptr);
int hmm_heap_trim(hmm_heap *heap, size_t pad);

typedef enum hmm_fault {
    HMM_FAULT_NONE, HMM_FAULT_INVALID_POINTER, HMM_FAULT_DOUBLE_FREE,
    HMM_FAULT_CORRUPT_HEADER, HMM_FAULT_USE_AFTER_FREE, HMM_FAULT_CORRUPT_FREE_LIST,
    HMM_FAULT_OVERFLOW, HMM_FAULT_WRITE_AFTER_FREE, HMM_FAULT_HEAP_CHECK, ...
} hmm_fault;
hmm_fault hmm_heap_last_fault(hmm_heap *heap, char *message, size_t message_len);
int hmm_heap_set_check(hmm_heap *heap, int level, unsigned every);
#define HMM_ALLOC_FILL ...
#define HMM_FREE_FILL ...
#define HMM_CANARY_FILL ...

typedef struct hmm_block_info {
    void *address; size_t size; size_t usable; int used;
} hmm_block_info;
typedef struct hmm_walk_cursor { ...; } hmm_walk_cursor;
int hmm_heap_walk(const hmm_heap *heap, hmm_walk_cursor *cursor, hmm_block_info *out);
unsigned hmm_heap_check(const hmm_heap *heap, char *why, size_t why_len);

typedef struct hmm_stats hmm_stats;
size_t hmm_stats_size(void);
void hmm_heap_stats(const hmm_heap *heap, hmm_stats *out);
int hmm_stats_count(void);
const char *hmm_stats_name(int index);
uint64_t hmm_stats_value(const hmm_stats *stats, int index);
"""


def _csrc(names):
    return [f"{CSRC}/{name}" for name in names]


def _headers():
    return sorted(f"{CSRC}/{p.name}" for p in (HERE / CSRC).glob("*.h"))


def make_ffi():
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source("hmm._core", '#include "hmm.h"')
    return ffi


def extensions():
    """The two native modules, with paths relative to the project root."""
    return [
        Extension(
            "hmm._core",
            sources=_csrc(CORE_SOURCES),  # the cffi wrapper is added by BuildExt
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
    ]


class BuildExt(build_ext):
    """build_ext that takes its modules from this file and emits the cffi C."""

    def finalize_options(self):
        self.distribution.ext_modules = extensions()
        super().finalize_options()

    def build_extension(self, ext):
        if ext.name == "hmm.libhmm":
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
        if fullname == "hmm.libhmm":
            return os.path.join("hmm", "libhmm.so")
        if fullname == "libhmm":
            return "libhmm.so"
        return super().get_ext_filename(fullname)

    def get_export_symbols(self, ext):
        if ext.name == "hmm.libhmm":
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
