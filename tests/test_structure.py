"""The shape of the package: layers import only downwards, the public API is documented."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import sysemu
from sysemu import _typing
from sysemu.abi import Abi, names

PACKAGE = Path(sysemu.__file__).parent
# Lowest first. A module may import sysemu modules of its own layer or lower ones only.
LAYERS = {
    "_typing": 0,
    "_contexts": 0,
    "abi": 0,
    "kernel": 1,
    "api": 2,
    "engine": 3,
    "tools": 4,
    "emulator": 5,
    "cli": 6,
    "testing": 6,
    "__init__": 6,
    "__main__": 6,
}


def layer_of(module: str) -> int:
    return LAYERS[module.split(".")[1]] if "." in module else LAYERS["__init__"]


def sysemu_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sysemu"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sysemu"))
    return found


def test_layers_import_only_downwards() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts)
        for imported in sysemu_imports(path):
            if imported != "sysemu" and layer_of(imported) > layer_of(module):
                violations.append(f"{module} imports {imported}")
    assert violations == []


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_imports_at_run_time(path: Path, prefix: str, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports when it runs: at the top or inside a
    function (a lazy import still ties the two), not under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == prefix and name in modules}


def import_cycles(root: Path) -> list[list[str]]:
    """The groups of the package's modules at ``root`` that import each other, directly or
    not (strongly connected components of more than one module)."""
    paths = {_module_name(path, root): path for path in root.rglob("*.py")}
    edges = {
        name: _package_imports_at_run_time(path, root.name, set(paths)) - {name}
        for name, path in paths.items()
    }
    order: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def connect(name: str) -> None:
        order[name] = lowest[name] = len(order)
        stack.append(name)
        for imported in edges[name]:
            if imported not in order:
                connect(imported)
                lowest[name] = min(lowest[name], lowest[imported])
            elif imported in stack:
                lowest[name] = min(lowest[name], order[imported])
        if lowest[name] == order[name]:
            group = stack[stack.index(name) :]
            del stack[stack.index(name) :]
            if len(group) > 1:
                cycles.append(sorted(group))

    for name in edges:
        if name not in order:
            connect(name)
    return cycles


def test_no_module_imports_one_that_imports_it_back() -> None:
    """A cycle ties two concerns into one: neither can be read, tested or replaced alone."""
    assert import_cycles(PACKAGE) == []


def test_the_cycle_check_catches_a_lazy_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("from pkg.sub.b import x\n")
    (package / "sub" / "b.py").write_text("def f():\n    from pkg.sub import a\n")
    (package / "c.py").write_text(
        "from pkg.sub import a\nif TYPE_CHECKING:\n    from pkg.d import y\n"
    )
    (package / "d.py").write_text("import pkg.c\n")
    assert import_cycles(package) == [["pkg.sub.a", "pkg.sub.b"]]


def test_the_abi_layer_is_pure_data() -> None:
    for path in (PACKAGE / "abi").glob("*.py"):
        text = path.read_text()
        assert "import ctypes" not in text, path


def test_every_public_name_is_documented() -> None:
    undocumented = []
    for name in sysemu.__all__:
        value = getattr(sysemu, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            if not inspect.getdoc(value):
                undocumented.append(name)
            if inspect.isclass(value):
                for attribute, member in vars(value).items():
                    method = inspect.isfunction(member) or isinstance(member, property)
                    if method and not attribute.startswith("_") and not inspect.getdoc(member):
                        undocumented.append(f"{name}.{attribute}")
    assert undocumented == []


def test_importing_sysemu_does_not_load_the_syscall_tables() -> None:
    code = (
        "import sys, sysemu; print([m for m in sys.modules if m.startswith('sysemu.abi._table')])"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_the_command_line_starts_without_shutil_or_importlib_util() -> None:
    # argparse imports shutil (with bz2, lzma, zlib) for each formatter unless given a width;
    # importlib.util is for rules files only.
    code = (
        "import sys, sysemu.cli.main as m; m.build_parser().parse_args(['run', '--', 'true']);"
        "print(sorted({'shutil', 'importlib.util'} & set(sys.modules)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def _run_time_imports(tree: ast.Module) -> set[str]:
    """The modules a module imports when it is imported: at its top level, outside
    ``if TYPE_CHECKING:`` (and not in functions, which import when called)."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            nodes = node.orelse
        else:
            nodes = [node]
        for statement in nodes:
            if isinstance(statement, ast.Import):
                found.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom) and statement.module:
                found.add(statement.module)
    return found


def test_the_command_line_does_not_import_typing() -> None:
    """Every module ``sysemu run`` loads gets what it needs of typing from sysemu._typing
    (typing costs about 3 ms of start-up)."""
    code = "import sys, sysemu.cli.main; print(*[m for m in sys.modules if m.startswith('sysemu')])"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    importers = []
    for module in loaded:
        spec_origin = getattr(sys.modules.get(module), "__file__", None)
        if spec_origin is None or not spec_origin.endswith(".py"):
            continue
        imports = _run_time_imports(ast.parse(Path(spec_origin).read_text()))
        if "typing" in imports or any(name.startswith("typing.") for name in imports):
            importers.append(module)
    assert importers == []


class _Typed(typing.NamedTuple):
    """A docstring."""

    a: int
    b: str = "x"
    c: tuple[int, ...] = ()

    @property
    def twice(self) -> int:
        """Twice a."""
        return self.a * 2

    def method(self) -> str:
        return self.b * self.a


class _Light(_typing.NamedTuple):
    """A docstring."""

    a: int
    b: str = "x"
    c: tuple[int, ...] = ()

    @property
    def twice(self) -> int:
        """Twice a."""
        return self.a * 2

    def method(self) -> str:
        return self.b * self.a


def test_the_run_time_named_tuple_makes_what_typing_makes() -> None:
    typed, light = _Typed(2, c=(1,)), _Light(2, c=(1,))
    assert tuple(light) == tuple(typed) == (2, "x", (1,))
    assert repr(light) == repr(typed).replace("_Typed", "_Light")
    assert _Light.__mro__ == (_Light, tuple, object)
    assert _Light._fields == _Typed._fields
    assert _Light._field_defaults == _Typed._field_defaults
    assert _Light.__doc__ == _Typed.__doc__
    assert _Light.__module__ == _Typed.__module__
    assert _Light.__qualname__ == "_Light"
    assert light.twice == typed.twice == 4
    assert light.method() == typed.method() == "xx"
    assert tuple(light._replace(a=1)) == tuple(typed._replace(a=1))
    assert light._asdict() == typed._asdict()
    assert set(dir(_Light)) == set(dir(_Typed)) - {"__orig_bases__"}
    assert list(_Light.__annotations__) == list(_Typed.__annotations__)
    with pytest.raises(TypeError, match="Non-default namedtuple field b cannot follow"):

        class _BadOrder(_typing.NamedTuple):
            a: int = 0
            b: int  # type: ignore[misc]

    with pytest.raises(AttributeError, match="Cannot overwrite NamedTuple attribute _make"):

        class _Overwrite(_typing.NamedTuple):
            a: int

            def _make(self) -> None:  # type: ignore[misc]
                pass


# The C accelerator: kernel/csrc/ split by concern, and the architecture's header.
CSRC = PACKAGE / "kernel" / "csrc"
ARCH_HEADERS = PACKAGE / "kernel" / "arch"


def c_includes(path: Path) -> set[Path]:
    """The accelerator's own files that ``path`` includes (system headers left out)."""
    found = set()
    for line in path.read_text().splitlines():
        match = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
        if match:
            found.add((path.parent / match.group(1)).resolve())
    return found


def test_every_module_is_one_a_reader_can_hold() -> None:
    """No Python module over ~600 lines, the generated syscall tables aside."""
    long = [
        f"{path.relative_to(PACKAGE)}: {count}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.name.startswith("_table_")
        and (count := len(path.read_text().splitlines())) > 600
    ]
    assert long == []


def test_the_c_sources_are_split_by_concern_without_cycles() -> None:
    """Each C file of the accelerator is under ~600 lines and has its own header (module.c,
    the top, aside), and no file includes, directly or not, one that includes it back."""
    sources = sorted(CSRC.glob("*.c"))
    headers = sorted((*CSRC.glob("*.h"), *ARCH_HEADERS.glob("*.h")))
    assert len(sources) >= 6
    for path in (*sources, *headers):
        assert len(path.read_text().splitlines()) <= 600, path.name
    for source in sources:
        if source.name != "module.c":
            assert source.with_suffix(".h").exists(), f"{source.name} has no header"
            assert source.with_suffix(".h").resolve() in c_includes(source), source.name

    # A file's implementation (foo.c) counts as part of its header (foo.h): a cycle between
    # concerns is foo.c using bar.h while bar.c uses foo.h.
    def unit(path: Path) -> Path:
        return path.with_suffix(".h").resolve() if path.suffix == ".c" else path.resolve()

    edges: dict[Path, set[Path]] = {}
    for path in (*sources, *headers):
        edges.setdefault(unit(path), set()).update(unit(i) for i in c_includes(path))
    for node, following in edges.items():
        following.discard(node)
    done: set[Path] = set()

    def visit(node: Path, path: tuple[Path, ...]) -> None:
        assert node not in path, " -> ".join(p.name for p in (*path, node))
        if node in done:
            return
        for following in edges.get(node, ()):
            visit(following, (*path, node))
        done.add(node)

    for node in edges:
        visit(node, ())


def test_the_x86_64_header_states_the_python_modules_facts() -> None:
    """kernel/arch/x86_64.h and kernel/arch/x86_64.py say the same of registers and the
    native ABI's audit arch."""
    from sysemu.abi import Abi  # noqa: PLC0415
    from sysemu.kernel.arch import x86_64  # noqa: PLC0415

    header = (ARCH_HEADERS / "x86_64.h").read_text()
    defines = dict(re.findall(r"#define (\w+) (0x[0-9A-Fa-f]+|\d+)", header))
    offsets = x86_64._OFFSET
    assert int(defines["X86_64_RAX_OFFSET"]) == offsets["rax"]
    assert int(defines["X86_64_ORIG_RAX_OFFSET"]) == offsets["orig_rax"]
    assert int(defines["ARCH_AUDIT"], 16) == Abi.X86_64.audit_arch
    assert int(defines["X86_64_SYSCALL_INSN_SIZE"]) == x86_64.LAYOUT.syscall_insn_size
    # The native ABI's struct stat and timespec, as abi/layouts.py lays them out.
    from sysemu.abi import layouts  # noqa: PLC0415

    stat = layouts.STAT[Abi.X86_64]
    assert int(defines["ARCH_STAT_MODE_OFFSET"]) == stat.field("st_mode")[0]
    assert int(defines["ARCH_STAT_RDEV_OFFSET"]) == stat.field("st_rdev")[0]
    assert int(defines["ARCH_STAT_SIZE_OFFSET"]) == stat.field("st_size")[0]
    assert int(defines["ARCH_TIMESPEC_SIZE"]) == layouts.TIMESPEC[Abi.X86_64].size
    assert "#if defined(__x86_64__)" in (CSRC / "arch.h").read_text()


def test_the_c_errno_facts_are_the_abi_layers() -> None:
    """csrc/errnos.h and abi/errnos.py say the same of MAX_ERRNO and the restart set, and no
    other C file writes the errno range or the restarts out again."""
    from sysemu.abi import errnos  # noqa: PLC0415

    header = (CSRC / "errnos.h").read_text()
    defines = {name: int(value) for name, value in re.findall(r"#define (\w+) (\d+)", header)}
    assert defines.pop("SYSEMU_MAX_ERRNO") == errnos.MAX_ERRNO
    assert set(defines.values()) == set(errnos.RESTART_ERRNOS)
    for path in CSRC.glob("*.[ch]"):
        if path.name != "errnos.h":
            text = path.read_text()
            assert not re.search(r"-\s*4096|-51[2-6]\b", text), path.name


# --- Architecture facts live in kernel/arch/ and abi/ only -----------------------------------

# Where an architecture's facts may be written: its module, the ABI tables and layouts, and the
# C header of the same facts (src/sysemu/kernel/arch/*.h).
ARCH_HOMES = ("kernel/arch/", "abi/")
ARCH_FACTS = (
    # x86 register names (orig_rax also inside names such as X86_64_ORIG_RAX).
    re.compile(r"orig_[re]ax", re.IGNORECASE),
    re.compile(r"\b(?:[re](?:ax|bx|cx|dx|si|di|bp|sp|ip)|eflags|r(?:8|9|1[0-5]))\b", re.I),
    # Audit arch values and the x86-64 ABI's name in code.
    re.compile(r"AUDIT_ARCH_\w+|0x[cC]000003[eE]|0x40000003|X86_64"),
    # Syscall numbers written as constants (socketcall's SYS_SOCKET..., from the generic
    # linux/net.h and assigned together, are not an architecture's).
    re.compile(r"^\s*SYS_[A-Za-z_]+ *= *\d|#define\s+(?:__NR_|SYS_)\w+\s+\d"),
)


def _syscall_number_constants(path: Path, calls: set[str]) -> list[str]:
    """Module-level constants that hold a syscall's number (``_EXECVE = 59``,
    ``SYS_TGKILL = 234``, ``_PTRACE_NR = {...}``): names made of a call's name."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            name = target.id
            numbered = name.startswith(("SYS_", "__NR_", "_NR_")) or name.endswith("_NR")
            call = re.sub(r"^(?:SYS_|__NR_|_NR_|_)|_NR$", "", name).lower()
            if call not in calls or not (numbered or name.startswith("_")):
                continue
            values = list(ast.walk(node.value))
            ints = [v for v in values if isinstance(v, ast.Constant) and type(v.value) is int]
            plain = all(isinstance(v, ast.Constant | ast.BinOp | ast.operator) for v in values)
            if ints and (numbered or plain):
                found.append(f"{path.name}:{node.lineno} {name}")
    return found


def test_architecture_facts_live_in_kernel_arch_and_abi() -> None:
    """No x86 register name, audit arch value or x86 syscall number outside kernel/arch/,
    abi/ and the C arch header: another architecture is one module, not an edit of many."""
    calls = {name for abi in Abi for name in names(abi)}
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        relative = path.relative_to(PACKAGE).as_posix()
        if path.suffix not in (".py", ".c", ".h") or relative.startswith(ARCH_HOMES):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for pattern in ARCH_FACTS:
                match = pattern.search(line)
                if match:
                    found.append(f"{relative}:{number}: {match.group()}: {line.strip()}")
        if path.suffix == ".py":
            found += _syscall_number_constants(path, calls)
    assert found == []


def test_the_architecture_check_catches_what_it_is_for(tmp_path: Path) -> None:
    """The patterns above find each kind of fact they are meant to (a check that cannot fail
    proves nothing)."""
    module = tmp_path / "module.py"
    module.write_text(
        "_EXECVE = 59\n_SENDMSG = 46\nSYS_TGKILL = 234\n_PTRACE_NR = {1: (101,)}\n"
        "EXIT = 1\n_WRITE, _READ_WRITE = 1, 3\n_IOCTL = {0x5401: 'TCGETS'}\n"
        "_CLOSE = native_number('close')\n"
    )
    found = _syscall_number_constants(module, {"execve", "sendmsg", "tgkill", "ptrace", "exit",
                                                "write", "ioctl", "close"})  # fmt: skip
    assert found == [
        "module.py:1 _EXECVE",
        "module.py:2 _SENDMSG",
        "module.py:3 SYS_TGKILL",
        "module.py:4 _PTRACE_NR",
    ]
    lines = (
        "_AUDIT_ARCH_X86_64 = 0xC000003E",
        "from sysemu.kernel.arch.x86_64 import ORIG_RAX_OFFSET as X86_64_ORIG_RAX",
        "word = 8 if call.abi is Abi.X86_64 else 4",
        "regs.rip -= 2;",
        "SYS_TGKILL = 234",
        "#define __NR_seccomp 317",
    )
    for line in lines:
        assert any(pattern.search(line) for pattern in ARCH_FACTS), line
    negatives = (
        "call.sp + 8",
        "ctx.call.abi.pointer_size",
        "syscall_by_name('execve')",
        "SYS_SOCKET, SYS_CONNECT = 1, 3",  # socketcall's own numbers, from linux/net.h
    )
    for line in negatives:
        assert not any(pattern.search(line) for pattern in ARCH_FACTS), line


def _after_import(prelude: str, report: str) -> str:
    code = f"import gc\n{prelude}\nimport sysemu\n{report}"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def test_the_first_collections_after_importing_walk_only_new_objects() -> None:
    """The package's objects are promoted unexamined: the young collections after the import
    walk what was made since (at most the threshold's 700 and a few), not the thousands of
    classes, functions and tables the import made (6,700 without the promotion)."""
    largest, collections, enabled = _after_import(
        "walked = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start'"
        " and walked.append(len(gc.get_objects(generation=0))))",
        "made = [[] for _ in range(2000)]\n"
        "print(max(walked, default=0), len(walked), gc.isenabled())",
    ).split()
    assert enabled == "True"
    assert int(collections) >= 2  # the collector ran on what was made afterwards
    assert int(largest) < 1000


def test_importing_keeps_the_importers_frozen_objects_frozen() -> None:
    frozen = _after_import(
        "kept = [[] for _ in range(500)]\ngc.freeze()", "print(gc.get_freeze_count())"
    )
    assert int(frozen) >= 500


def test_importing_with_the_collector_off_leaves_it_off() -> None:
    assert _after_import("gc.disable()", "print(gc.isenabled())") == "False"
