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

PACKAGE = Path(sysemu.__file__).parent
# Lowest first. A module may import sysemu modules of its own layer or lower ones only.
LAYERS = {
    "_typing": 0,
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
    assert "#if defined(__x86_64__)" in (CSRC / "arch.h").read_text()
