"""hmm-run: run a program with HMM as its malloc.

    hmm-run [options] [--] program [args...]

hmm-run puts ``libhmm.so`` first in LD_PRELOAD and then *replaces itself*
with the program (execve), as jemalloc.sh does: the exit status, signals,
the terminal and the process id are the program's own, with no wrapper
process in between.  Statistics are therefore written by the library itself
at the program's exit (HMM_STATS), not by hmm-run.

Options end at the first argument that is not one of ours, or at ``--``:
in ``hmm-run ls -l`` the ``-l`` belongs to ls.  That is why this is a small
hand parser and not argparse, which looks for its options everywhere.

Exit status, when hmm-run itself fails: 2 usage error, 1 library missing,
127 program not found, 126 program found but not executable (as env(1)).
"""
import errno
import os
import shlex
import shutil
import signal
import stat
import struct
import sys
import textwrap

from . import __version__
from .library import TRACE_LIBRARY_NAME, library_path, preload_value

PROG = "hmm-run"

USAGE = f"usage: {PROG} [options] [--] program [args...]"

HELP = f"""{USAGE}

Run a program with HMM, the Heap Memory Manager, as its malloc
(LD_PRELOAD=libhmm.so).  hmm-run then becomes the program: its exit status,
signals, terminal and pid are the program's own.

options:
  --stats            print HMM's statistics to stderr when the program exits
  --stats-file PATH  write the statistics to PATH at exit (%p = process id,
                     so that each forked process writes its own file; %% = %)
  --trace PATH       record every malloc call of the program in PATH
                     (HMM_TRACE, with libhmm-trace.so preloaded: the same
                     allocator, recording); %p = process id.  A process the
                     program forks writes PATH.<pid> (when PATH has no %p),
                     an exec'ed program goes on in its process's file.
                     Read it with `hmm report PATH`.  An existing PATH is
                     replaced.
  --trace-depth N    frames of call stack per allocation, 0 to 32
                     (HMM_TRACE_DEPTH; default 32; 0: no stacks, fastest)
  --check [LEVEL]    check mode (HMM_CHECK); LEVEL is 0, 1 or 2, given as
                     --check=LEVEL or as the next argument (only when that
                     is 0, 1 or 2: `--check prog` runs prog at level 1).
                     1, the default, puts a canary after every block and
                     fills freed and new memory, to catch overflows, writes
                     after free and reads of uninitialised memory; 2 also
                     checks the whole heap every HMM_CHECK_EVERY calls (see
                     below); 0 is off.  Levels 1 and 2 are slower and turn
                     the thread caches off.
  --print-lib        print the path of libhmm.so and exit
  --env              print a shell line that preloads HMM, for
                     eval "$({PROG} --env)"
  -h, --help         show this help and exit
  --version          show the version and exit

Options stop at the program name or at '--'; everything after belongs to
the program.  Exit status: the program's, or 127 when it is not found, 126
when it cannot be executed, 2 on a usage error, 1 when libhmm.so is missing.
LD_PRELOAD has no effect on statically linked and setuid programs."""


def environment_help(width=79):
    """The help's list of the HMM_* variables, each with its default and
    meaning, from the core's table of them (csrc/options.h): the one place
    that says what they are."""
    lines = ["environment (read by libhmm.so; NAME=default):"]
    try:
        from .heap import _option_table
        options = _option_table()
    except ImportError as exc:  # only the preload library was built
        return "\n".join(lines + [f"  (listed by hmm._core, which cannot be loaded: {exc})"])
    for option in options:
        lines.append(f"  {option.name}={option.default}")
        lines += textwrap.wrap(option.meaning, width, initial_indent=" " * 6,
                               subsequent_indent=" " * 6, break_on_hyphens=False)
    return "\n".join(lines)


def _bench(argv):
    # Imported on use: running a program must not pay for the benchmark.
    from .bench import main as bench_main
    return bench_main(argv)


# Subcommands of `python -m hmm`: the first argument is looked up here before
# it is taken as a program, so `hmm-run bench ...` runs the benchmark (see
# benchmarks/README.md); `hmm-run -- bench` still runs a program of that name.
COMMANDS = {
    "bench": _bench,
}


CHECK_LEVELS = ("0", "1", "2")


class UsageError(Exception):
    pass


def _parse(argv):
    """Split argv into (options dict, program argv)."""
    options = {"stats": None, "check": None, "trace": None, "trace_depth": None,
               "print_lib": False, "env": False, "help": False, "version": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, has_value, value = arg.partition("=")
        if name == "--stats-file":
            if not has_value:
                i += 1
                if i == len(argv):
                    raise UsageError("--stats-file needs a PATH")
                value = argv[i]
            if not value:
                raise UsageError("--stats-file needs a non-empty PATH")
            _set_stats(options, absolute_template(value))
        elif name in ("--trace", "--trace-depth"):
            if not has_value:
                i += 1
                if i == len(argv):
                    raise UsageError(f"{name} needs a {'PATH' if name == '--trace' else 'number'}")
                value = argv[i]
            key = name[2:].replace("-", "_")
            if options[key] is not None:
                raise UsageError(f"{name} can be given only once")
            if name == "--trace":
                if not value:
                    raise UsageError("--trace needs a non-empty PATH")
                options["trace"] = absolute_template(value)
            else:
                if not value.isdigit() or int(value) > 32:
                    raise UsageError(f"--trace-depth {value}: the depth is a number from 0 to 32")
                options["trace_depth"] = str(int(value))
        elif name == "--check":
            if has_value and value not in CHECK_LEVELS:
                raise UsageError(f"--check={value}: the level is 0, 1 or 2")
            if options["check"] is not None:
                raise UsageError("--check can be given only once")
            if not has_value:
                # The level may follow as an argument of its own, but only
                # a level: `--check ls` runs ls at level 1.
                if i + 1 < len(argv) and argv[i + 1] in CHECK_LEVELS:
                    i += 1
                    value = argv[i]
                else:
                    value = "1"
            options["check"] = value
        elif has_value:
            raise UsageError(f"option {name} takes no value")
        elif arg == "--stats":
            _set_stats(options, "1")
        elif arg == "--print-lib":
            options["print_lib"] = True
        elif arg == "--env":
            options["env"] = True
        elif arg in ("-h", "--help"):
            options["help"] = True
        elif arg == "--version":
            options["version"] = True
        else:
            raise UsageError(f"unknown option {arg} (put '--' before a program whose "
                             "name starts with '-')")
        i += 1
    return options, argv[i:]


def absolute_template(template):
    """The HMM_STATS path template `template`, made absolute.

    Absolute: the library opens it at exit, after any chdir, and a bare "1"
    or "yes" must not read as the stderr switch.  The working directory is
    put in front with its own % doubled, since in the template %p stands for
    the pid and %% for one %.
    """
    if not os.path.isabs(template):
        template = os.path.join(os.getcwd().replace("%", "%%"), template)
    return os.path.normpath(template)


def _set_stats(options, value):
    if options["stats"] is not None:
        raise UsageError("--stats and --stats-file can be given only once, and not together")
    options["stats"] = value


# ---- what the program is ------------------------------------------------

PT_INTERP = 3


def elf_has_interpreter(path):
    """True/False whether the ELF file at `path` names a program interpreter
    (PT_INTERP, i.e. it is dynamically linked, so the loader and with it
    LD_PRELOAD take part); None when `path` is not a readable ELF file."""
    try:
        with open(path, "rb") as f:
            ident = f.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF":
                return None
            elf_class, data = ident[4], ident[5]
            if elf_class not in (1, 2) or data not in (1, 2):
                return None
            order = "<" if data == 1 else ">"
            if elf_class == 2:  # 64-bit: e_phoff at 32, e_phentsize/e_phnum at 54
                header = f.read(48)
                if len(header) < 48:
                    return None
                (phoff,) = struct.unpack_from(order + "Q", header, 32 - 16)
                phentsize, phnum = struct.unpack_from(order + "HH", header, 54 - 16)
            else:  # 32-bit: e_phoff at 28, e_phentsize/e_phnum at 42
                header = f.read(36)
                if len(header) < 36:
                    return None
                (phoff,) = struct.unpack_from(order + "I", header, 28 - 16)
                phentsize, phnum = struct.unpack_from(order + "HH", header, 42 - 16)
            if phentsize < 4:
                return None
            for index in range(phnum):
                f.seek(phoff + index * phentsize)
                entry = f.read(4)
                if len(entry) < 4:
                    return None
                if struct.unpack(order + "I", entry)[0] == PT_INTERP:
                    return True
            return False
    except OSError:
        return None


def _preload_warning(path):
    """Why LD_PRELOAD would be ignored for `path`, or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    # The loader runs in secure mode, and ignores LD_PRELOAD (but for
    # setuid libraries in the system directories), when the exec changes
    # the effective user or group.
    if st.st_mode & stat.S_ISUID and st.st_uid != os.geteuid():
        return f"{path} is setuid: the loader ignores LD_PRELOAD, so HMM will not be used"
    if st.st_mode & stat.S_ISGID and st.st_gid != os.getegid():
        return f"{path} is setgid: the loader ignores LD_PRELOAD, so HMM will not be used"
    if elf_has_interpreter(path) is False:
        return f"{path} is statically linked: LD_PRELOAD has no effect, so HMM will not be used"
    return None


def _resolve(name):
    """(path, None) for the program to exec, or (None, (status, message))."""
    if "/" not in name:
        path = shutil.which(name)
        if path is None:
            return None, (127, f"{name}: command not found")
    else:
        path = name
        if not os.path.exists(path):
            return None, (127, f"{name}: No such file or directory")
    if os.path.isdir(path):
        return None, (126, f"{name}: Is a directory")
    if not os.access(path, os.X_OK):
        return None, (126, f"{name}: Permission denied")
    return path, None


def _error(message):
    print(f"{PROG}: {message}", file=sys.stderr)


def _usage_error(message):
    print(USAGE, file=sys.stderr)
    _error(f"error: {message}")
    return 2


def main(argv=None):
    """Entry point of hmm-run and `python -m hmm`.  Returns the exit status
    when it does not exec the program."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    try:
        options, program = _parse(argv)
    except UsageError as exc:
        return _usage_error(str(exc))

    if options["help"]:
        print(HELP)
        print()
        print(environment_help())
        return 0
    if options["version"]:
        print(f"{PROG} (hmm) {__version__}")
        return 0
    printing = options["print_lib"] or options["env"]
    if printing and program:
        return _usage_error("--print-lib and --env print and exit; they take no program")
    if not printing and not program:
        return _usage_error("no program given")
    if options["trace_depth"] is not None and options["trace"] is None:
        return _usage_error("--trace-depth goes with --trace PATH")

    try:
        library = library_path(TRACE_LIBRARY_NAME) if options["trace"] else library_path()
        preload = preload_value(library, os.environ.get("LD_PRELOAD"))
    except (FileNotFoundError, ValueError) as exc:
        _error(str(exc))
        return 1

    if options["print_lib"]:
        print(library)
    if options["env"]:
        print(f"export LD_PRELOAD={shlex.quote(preload)}")
        if options["stats"] is not None:
            print(f"export HMM_STATS={shlex.quote(options['stats'])}")
        if options["check"] is not None:
            print(f"export HMM_CHECK={options['check']}")
        if options["trace"] is not None:
            print(f"export HMM_TRACE={shlex.quote(options['trace'])}")
        if options["trace_depth"] is not None:
            print(f"export HMM_TRACE_DEPTH={options['trace_depth']}")
    if printing:
        return 0

    path, failure = _resolve(program[0])
    if failure:
        status, message = failure
        _error(message)
        return status
    warning = _preload_warning(path)
    if warning:
        _error(f"warning: {warning}")

    env = dict(os.environ)
    env["LD_PRELOAD"] = preload
    if options["stats"] is not None:
        env["HMM_STATS"] = options["stats"]
    if options["check"] is not None:
        env["HMM_CHECK"] = options["check"]
    if options["trace"] is not None:
        status = _start_trace(options, env)
        if status:
            return status
    return _exec(path, program, env)


def _start_trace(options, env):
    """Set the tracing variables; remove the file this process (the
    program, once exec'ed: same pid) will write, which the library creates
    afresh only when it is not there.  A non-zero status on failure."""
    template = options["trace"]
    path = template.replace("%%", "\0").replace("%p", str(os.getpid())).replace("\0", "%")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        _error(f"--trace {path}: no such directory: {directory}")
        return 2
    try:
        if os.path.isdir(path):
            _error(f"--trace {path}: is a directory")
            return 2
        if os.path.lexists(path):
            os.unlink(path)
    except OSError as exc:
        _error(f"--trace {path}: cannot replace it: {exc.strerror}")
        return 2
    env["HMM_TRACE"] = template
    if options["trace_depth"] is not None:
        env["HMM_TRACE_DEPTH"] = options["trace_depth"]
    _error(f"recording every malloc call to {path} (read it with: hmm report {shlex.quote(path)})")
    return 0


def _exec(path, program, env):
    sys.stdout.flush()
    sys.stderr.flush()
    # Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive exec:
    # give the program the default actions it would get from a shell, so
    # that `hmm-run yes | head` ends the way `yes | head` does.
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execve(path, program, env)
    except OSError as exc:
        status = 127 if exc.errno == errno.ENOENT else 126
        _error(f"{program[0]}: {exc.strerror or exc}")
        return status
    raise AssertionError("execve returned")  # pragma: no cover
