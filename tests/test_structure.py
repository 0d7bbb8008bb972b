"""The shape of the package: layers import only downwards, the public API is documented."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import sysemu

PACKAGE = Path(sysemu.__file__).parent
# Lowest first. A module may import sysemu modules of its own layer or lower ones only.
LAYERS = {
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
