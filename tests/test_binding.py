"""The Python binding is hmm.h: its declarations are the header's marked
section (build_hmm.py hands that text to cffi), and Python's names for what
the core reports come from the core.  These tests fail when the header and
the built binding part ways (a declaration the core module lacks: hmm.h
changed and the binding was not rebuilt, or the marker left it out), or
when the header declares a core name outside the section.
"""
import re
from pathlib import Path

import hmm
from hmm import _core

HMM_H = Path(__file__).resolve().parent.parent / "csrc" / "hmm.h"


def sections():
    """hmm.h without its comments: (the binding's section, the rest)."""
    text = HMM_H.read_text()
    begin = text.index("HMM_BINDING_BEGIN")
    begin = text.index("*/", begin) + 2
    end = text.index("HMM_BINDING_END", begin)
    end = text.rindex("/*", begin, end)
    uncomment = lambda s: re.sub(r"/\*.*?\*/", " ", s, flags=re.S)
    return uncomment(text[begin:end]), uncomment(text[:begin] + text[end:])


def declared(text):
    """Functions, enum constants and #defines that text declares."""
    functions = set(re.findall(r"\b(\w+)\s*\([^()]*\)\s*;", text))
    constants = set(re.findall(r"^\s*(HMM_[A-Z_]+)\s*(?:=[^,]*)?,", text, re.M))
    defines = set(re.findall(r"^#define[ \t]+(\w+)[ \t]+\S", text, re.M))  # with a value
    return functions, constants, defines


def test_every_declaration_of_the_section_is_in_the_binding():
    functions, constants, defines = declared(sections()[0])
    assert {"hmm_heap_alloc", "hmm_option_default", "hmm_stats_value"} <= functions
    assert {"HMM_FAULT_NONE", "HMM_FAULT_HEAP_CHECK"} <= constants
    assert {"HMM_ALLOC_FILL", "HMM_CANARY_FILL"} <= defines
    missing = sorted(name for name in functions | constants | defines if not hasattr(_core.lib, name))
    assert not missing, f"hmm.h declares {missing}, which the built binding lacks: rebuild"


def test_only_the_seed_api_is_outside_the_section():
    """The seed API (the process heap's HmmAlloc & co.) is not the core's,
    so it stays out of the binding; any other declaration belongs inside."""
    functions, constants, defines = declared(sections()[1])
    assert functions == {"HmmAlloc", "HmmFree", "HmmRealloc", "HmmCalloc"}
    assert not constants and defines == set()
    assert not any(hasattr(_core.lib, name) for name in functions)


def test_fault_names_are_the_cores_enum():
    """hmm.FAULTS is the hmm_fault enum of hmm.h, in its order, named as
    HeapError.fault names them."""
    text = sections()[0]
    enum = re.search(r"enum hmm_fault \{(.*?)\}", text, re.S)[1]
    names = re.findall(r"HMM_FAULT_(\w+)", enum)
    assert names[0] == "NONE"
    assert hmm.FAULTS == tuple(name.lower() for name in names[1:])
    heap = hmm.Heap(1 << 16)
    a = heap.alloc(10)
    heap.free(a)
    try:
        heap.free(a)
    except hmm.HeapError as exc:
        assert exc.fault == "double_free" and exc.fault in hmm.FAULTS
    else:
        raise AssertionError("a double free was not reported")
