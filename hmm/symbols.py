"""Names for the return addresses of a trace's stacks.

A frame is a return address in some loaded object (a MODULE record says
where each object was).  Its function comes from the object's symbol table,
read with pyelftools (``.symtab``, else ``.dynsym``); its file and line, when
the object has debug information, from binutils' ``addr2line``, one process
per object for all its addresses.  A separate debug file is used when the
object names one that is installed (``/usr/lib/debug/.build-id/...`` or its
``.gnu_debuglink``).  What has no symbol shows as ``object+0xoffset``.

A return address points after the call; the call itself, the line a reader
wants, is the byte before it, so lookups use ``ip - 1``.  The offset shown is
that of the return address itself, as glibc's backtrace_symbols shows it.

Objects are read once per process (cached by path, size and mtime), and the
trace's file names are trusted only as far as the files still being there:
a trace read on another machine, or after a rebuild, names what it can.
"""
import collections
import os
import shutil
import subprocess

import numpy as np

DEBUG_ROOT = "/usr/lib/debug"

Frame = collections.namedtuple("Frame", "address module offset function file line")
Frame.__doc__ = """One frame of a stack.

address:  the return address, as recorded
module:   the object's path ("" for the vdso), None when no module holds it
offset:   address - the module's load bias (the address in the file)
function: the function's name, None when no symbol covers it
file:     the source file, None without debug information
line:     the line in it (int), None without debug information
"""


def frame_label(frame):
    """The frame in a few words: its function, else object+0xoffset, else
    the bare address; the name flame graphs and diffs group by."""
    if frame.function:
        return frame.function
    if frame.module is not None:
        return f"{module_name(frame.module)}+0x{frame.offset:x}"
    return f"0x{frame.address:x}"


def frame_text(frame):
    """The frame for a person: "make_node at prog.c:7" or
    "libc.so.6+0x27249"."""
    label = frame_label(frame)
    if frame.file and frame.line:
        return f"{label} at {frame.file}:{frame.line}"
    if frame.function and frame.module is not None:
        return f"{label} ({module_name(frame.module)})"
    return label


def module_name(path):
    return os.path.basename(path) if path else "[vdso]"


class ObjectFile:
    """The symbols and line information of one ELF file on disk."""

    def __init__(self, path):
        self.path = path
        self.starts = np.zeros(0, dtype=np.uint64)
        self.ends = np.zeros(0, dtype=np.uint64)
        self.names = []
        self.debug_file = None  # where addr2line finds lines, None when nowhere
        self.readable = False
        try:
            self._read()
        except Exception:  # not there, not ELF, damaged: no names, but no failure
            self.readable = False

    def _read(self):
        from elftools.elf.elffile import ELFFile

        with open(self.path, "rb") as f:
            elf = ELFFile(f)
            self.readable = True
            symbols = _function_symbols(elf)
            has_lines = elf.get_section_by_name(".debug_line") is not None
            debug = None if has_lines and symbols["symtab"] else _separate_debug_file(elf, self.path)
        self.debug_file = self.path if has_lines else None
        if debug is not None:
            # A debug file has the object's addresses: its full symbol
            # table and its lines stand in for what a stripped object lacks.
            with open(debug, "rb") as f:
                debug_elf = ELFFile(f)
                if not symbols["symtab"]:
                    found = _function_symbols(debug_elf)
                    if found["list"]:
                        symbols = found
                if self.debug_file is None and debug_elf.get_section_by_name(".debug_line"):
                    self.debug_file = debug
        table = sorted(symbols["list"])
        self.starts = np.array([start for start, _, _ in table], dtype=np.uint64)
        self.ends = np.array([end for _, end, _ in table], dtype=np.uint64)
        self.names = [name for _, _, name in table]

    def functions(self, addresses):
        """The function holding each file address, or None."""
        addresses = np.asarray(addresses, dtype=np.uint64)
        if not len(self.starts) or not len(addresses):
            return [None] * len(addresses)
        index = np.searchsorted(self.starts, addresses, side="right") - 1
        inside = (index >= 0) & (addresses < self.ends[np.maximum(index, 0)])
        return [self.names[i] if ok else None for i, ok in zip(index.tolist(), inside.tolist())]

    def lines(self, addresses):
        """(file, line) of each file address, or (None, None): addr2line,
        once for all of them."""
        unknown = [(None, None)] * len(addresses)
        addr2line = shutil.which("addr2line")
        if self.debug_file is None or addr2line is None or not len(addresses):
            return unknown
        text = "\n".join(f"0x{int(a):x}" for a in addresses) + "\n"
        try:
            out = subprocess.run([addr2line, "-e", self.debug_file], input=text, capture_output=True,
                                 text=True, timeout=120, check=False).stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            return unknown
        if len(out) != len(addresses):
            return unknown
        return [_file_line(line) for line in out]


def _file_line(text):
    """addr2line's "file:line (discriminator 2)" -> (file, line)."""
    text = text.split(" (discriminator")[0].strip()
    name, _, line = text.rpartition(":")
    if not name or name == "??" or not line.isdigit() or line == "0":
        return (None, None)
    return (name, int(line))


# pyelftools names STT_GNU_IFUNC (10) after the range it opens, STT_LOOS.
_FUNCTION_TYPES = ("STT_FUNC", "STT_GNU_IFUNC", "STT_LOOS")
_BINDING_RANK = {"STB_GLOBAL": 0, "STB_WEAK": 1, "STB_LOCAL": 2}


def _function_symbols(elf):
    """{"symtab": whether .symtab was there, "list": [(start, end, name)]}
    with one name per address (global before weak before local)."""
    for section_name in (".symtab", ".dynsym"):
        section = elf.get_section_by_name(section_name)
        if section is None or not section.num_symbols():
            continue
        table = _symbol_table(elf, section)
        if table is None:
            table = _symbol_table_slowly(section)
        best = {}
        for start, size, bind, name in table:
            if not name:
                continue
            rank = _BINDING_RANK.get(bind, 3)
            # A .symtab keeps symbol versions in the name
            # ("__libc_start_main@@GLIBC_2.34"); a reader wants the function.
            name = name.split("@", 1)[0] or name
            if start not in best or rank < best[start][0]:
                best[start] = (rank, start + max(size, 1), name)
        if best:
            return {"symtab": section_name == ".symtab",
                    "list": [(start, end, name) for start, (_, end, name) in best.items()]}
    return {"symtab": False, "list": []}


# Elf64_Sym, and the values of its st_info and st_shndx that matter here.
_ELF64_SYM = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"),
                       ("value", "<u8"), ("size", "<u8")])
_STT_FUNC, _STT_GNU_IFUNC = 2, 10
_BINDINGS = {0: "STB_LOCAL", 1: "STB_GLOBAL", 2: "STB_WEAK"}


def _symbol_table(elf, section):
    """(start, size, binding, name) of the defined functions, read in one
    go with numpy: pyelftools parses symbols one by one, which takes a
    second for a big library.  None when the file is not a 64-bit
    little-endian ELF."""
    if elf.elfclass != 64 or not elf.little_endian or section["sh_entsize"] != _ELF64_SYM.itemsize:
        return None
    data = section.data()
    symbols = np.frombuffer(data, dtype=_ELF64_SYM, count=len(data) // _ELF64_SYM.itemsize)
    kind = symbols["info"] & 0xF
    chosen = symbols[((kind == _STT_FUNC) | (kind == _STT_GNU_IFUNC)) & (symbols["shndx"] != 0)
                     & (symbols["value"] != 0)]
    strings = elf.get_section(section["sh_link"]).data()
    table = []
    for offset, info, value, size in zip(chosen["name"].tolist(), chosen["info"].tolist(),
                                         chosen["value"].tolist(), chosen["size"].tolist()):
        end = strings.find(b"\0", offset)
        name = strings[offset:end if end >= 0 else len(strings)].decode("utf-8", "replace")
        table.append((value, size, _BINDINGS.get(info >> 4, ""), name))
    return table


def _symbol_table_slowly(section):
    table = []
    for symbol in section.iter_symbols():
        info = symbol["st_info"]
        if (info["type"] in _FUNCTION_TYPES and symbol["st_shndx"] != "SHN_UNDEF"
                and symbol["st_value"]):
            table.append((symbol["st_value"], symbol["st_size"], info["bind"], symbol.name))
    return table


def _separate_debug_file(elf, path):
    """The installed debug file of `path`, by build id then by debuglink."""
    candidates = []
    build_id = _build_id(elf)
    if build_id and len(build_id) > 2:
        candidates.append(os.path.join(DEBUG_ROOT, ".build-id", build_id[:2], build_id[2:] + ".debug"))
    link = elf.get_section_by_name(".gnu_debuglink")
    if link is not None:
        data = link.data()
        name = os.fsdecode(data[:data.find(b"\0")] if b"\0" in data else data)
        if name:
            directory = os.path.dirname(os.path.realpath(path))
            candidates += [os.path.join(directory, name),
                           os.path.join(directory, ".debug", name),
                           os.path.join(DEBUG_ROOT + directory, name)]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.path.realpath(candidate) != os.path.realpath(path):
            return candidate
    return None


def _build_id(elf):
    for section in elf.iter_sections():
        if section["sh_type"] != "SHT_NOTE":
            continue
        for note in section.iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID":
                return note["n_desc"]
    return None


_objects = {}


def object_file(path):
    """The ObjectFile of `path`, read once per version of the file."""
    try:
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns)
    except OSError:
        key = (path, None, None)
    if key not in _objects:
        _objects[key] = ObjectFile(path)
    return _objects[key]


class Symbolizer:
    """Frames for the addresses of one trace's stacks, given its modules
    (hmm.trace.Module); remembers every address it named."""

    def __init__(self, modules):
        self.modules = list(modules)
        self._owner = {}   # (image, stack number, address) -> module index, -1 for none
        self._frames = {}  # (module index, address) -> Frame

    def stacks(self, stacks, images):
        """{stack number: [Frame, ...]}: `stacks` maps a stack number to
        its addresses, `images` to its program (Trace.image_of_stack)."""
        todo = collections.defaultdict(list)
        for number, addresses in stacks.items():
            image = images[number]
            for address in addresses:
                if (image, number, address) not in self._owner:
                    todo[image].append((number, address))
        for image, pairs in todo.items():
            self._resolve(image, pairs)
        return {number: [self._frames[(self._owner[(images[number], number, a)], a)]
                         for a in addresses]
                for number, addresses in stacks.items()}

    def _resolve(self, image, pairs):
        """Find each (stack number, address)'s module, then name the
        addresses module by module."""
        numbers = np.array([n for n, _ in pairs], dtype=np.int64)
        addresses = np.array([a for _, a in pairs], dtype=np.uint64)
        owner = np.full(len(pairs), -1, dtype=np.int64)
        # The latest module written before the stack that covers the address
        # wins: an object unloaded and another loaded in its place later
        # names only the stacks after it.
        for index in range(len(self.modules) - 1, -1, -1):
            module = self.modules[index]
            if module.image != image:
                continue
            candidates = (owner < 0) & (numbers > module.stacks_before)
            if not candidates.any():
                continue
            for vaddr, memsz in module.segments:
                low = (module.bias + vaddr) & _MASK
                high = min(low + memsz, _MASK)
                inside = (addresses >= np.uint64(low)) & (addresses < np.uint64(high))
                owner[candidates & inside] = index
        by_module = collections.defaultdict(set)
        for (number, address), index in zip(pairs, owner.tolist()):
            self._owner[(image, number, address)] = index
            if (index, address) not in self._frames:
                by_module[index].add(address)
        for index, found in by_module.items():
            self._name(index, sorted(found))

    def _name(self, index, addresses):
        if index < 0:
            for address in addresses:
                self._frames[(index, address)] = Frame(address, None, 0, None, None, None)
            return
        module = self.modules[index]
        offsets = [(a - module.bias) & _MASK for a in addresses]
        # Look up the call, one byte before the return address.
        looked_up = [max(offset - 1, 0) for offset in offsets]
        if module.path:
            obj = object_file(module.path)
            functions = obj.functions(looked_up)
            lines = obj.lines(looked_up)
        else:
            functions, lines = [None] * len(addresses), [(None, None)] * len(addresses)
        for address, offset, function, (file, line) in zip(addresses, offsets, functions, lines):
            self._frames[(index, address)] = Frame(address, module.path, offset, function, file, line)


_MASK = (1 << 64) - 1
