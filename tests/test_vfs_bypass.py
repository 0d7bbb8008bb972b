"""No way around hidden and read-only paths: ``/proc`` prefixes, symbolic links, file handles.

Each form is tried with real programs (``cat``, ``sh``, a C program for file handles) and the
same forms are checked for binds, whose paths the program must reach through them too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sysemu import Emulator
from sysemu.kernel import seccomp
from sysemu.tools.vfs import VirtualFS

from .conftest import Programs

VIRT = "/vfs-test-data"  # a directory no host has


def run(vfs: VirtualFS, script: str, cwd: str | None = None) -> tuple[int, str, str]:
    emu = Emulator()
    vfs.install(emu.handlers)
    result = emu.run(["sh", "-c", script], capture_output=True, timeout=60, cwd=cwd)
    assert result.stdout is not None and result.stderr is not None
    return result.exit_code, result.stdout.decode(), result.stderr.decode()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """data/ with a file, a subdirectory and a private directory."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "file.txt").write_text("hello from the host\n")
    (data / "sub" / "inner.txt").write_text("inner\n")
    (data / "private").mkdir()
    (data / "private" / "key").write_text("the key\n")
    return data


def proc_forms(directory: str, name: str) -> list[str]:
    """Every ``/proc`` way to name ``directory/name`` (a shell started in ``directory``'s
    parent, whose last component ``directory`` is)."""
    base = directory.rsplit("/", 1)[1]
    forms = [
        f"/proc/self/root{directory}/{name}",
        f"/proc/thread-self/root{directory}/{name}",
        f"/proc/$$/root{directory}/{name}",
        f"/proc/$$/task/$$/root{directory}/{name}",
        f"/proc/self/cwd/{base}/{name}",
        f"/proc/$$/cwd/{base}/../{base}/{name}",
        f"/proc/self/fd/3/{base}/{name}",
        f"/proc/self/fd/3/{base}/./{name}",
    ]
    # /dev/fd is udev's link to /proc/self/fd: a machine without it (a bare devtmpfs) has no
    # such path, which would pass the hiding tests for the wrong reason and fail the others.
    if os.path.islink("/dev/fd") and os.readlink("/dev/fd") == "/proc/self/fd":
        forms.append(f"/dev/fd/../root{directory}/{name}")
    return forms


def test_hidden_paths_are_not_reached_through_proc(tree: Path) -> None:
    vfs = VirtualFS().hide(str(tree / "private"))
    for path in proc_forms(str(tree / "private"), "key"):
        code, out, err = run(vfs, f"exec 3<.; cat {path}", cwd=str(tree))
        assert "the key" not in out, path
        assert code == 1 and "No such file or directory" in err, (path, err)
    code, out, _ = run(vfs, "exec 3<.; cat /proc/self/fd/3/data/file.txt", cwd=str(tree.parent))
    assert (code, out) == (0, "hello from the host\n")


def test_readonly_paths_are_not_changed_through_proc(tree: Path) -> None:
    vfs = VirtualFS().readonly(str(tree / "sub"))
    for path in proc_forms(str(tree / "sub"), "inner.txt"):
        code, _, err = run(vfs, f"exec 3<.; echo x > {path}", cwd=str(tree))
        assert code != 0 and "Read-only file system" in err, (path, err)
    assert (tree / "sub" / "inner.txt").read_text() == "inner\n"


def test_bound_paths_are_reached_through_proc(tree: Path) -> None:
    vfs = VirtualFS().bind(VIRT, str(tree))
    for path in proc_forms(f"{VIRT}/sub", "inner.txt"):
        code, out, err = run(vfs, f"cd {VIRT}; exec 3<.; cat {path}")
        assert (code, out, err) == (0, "inner\n", ""), path
    # From / (the host's): the bound name exists only in the view.
    code, out, err = run(vfs, f"cd /; exec 3<.; cat /proc/self/cwd{VIRT}/file.txt")
    assert (code, out, err) == (0, "hello from the host\n", "")


def test_hidden_paths_are_not_reached_through_symbolic_links(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "to-key").symlink_to(tree / "private" / "key")
    (outside / "to-private").symlink_to("../data/private")  # relative, to a directory
    (outside / "chain").symlink_to("to-private")  # a link to a link
    (outside / "to-file").symlink_to(tree / "file.txt")  # into nothing hidden
    vfs = VirtualFS().hide(str(tree / "private"))
    for command in (
        "cat to-key",
        f"cat {outside}/to-key",
        "cat to-private/key",
        "cat chain/key",
        "ls chain/",
        f"cd {outside}/chain",
    ):
        code, out, err = run(vfs, command, cwd=str(outside))
        assert "the key" not in out and "key" not in out.split(), command
        assert code != 0 and ("No such file" in err or "can't cd" in err), (command, err)
    # The links themselves are there, and a link into nothing hidden still works.
    code, out, err = run(vfs, "readlink to-key; cat to-file; ls", cwd=str(outside))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        str(tree / "private" / "key"),
        "hello from the host",
        "chain",
        "to-file",
        "to-key",
        "to-private",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="open_by_handle_at needs CAP_DAC_READ_SEARCH")
@pytest.mark.parametrize("build", ["64", "m32"])
def test_file_handles_do_not_open_hidden_or_read_only_files(
    tree: Path, tmp_path: Path, programs: Programs, build: str
) -> None:
    # The handles are made before the run, as a program could keep them from elsewhere.
    probe = programs.vfs_probe if build == "64" else programs.m32("vfs_probe")
    handles = {}
    for name, path in (("key", tree / "private" / "key"), ("inner", tree / "sub" / "inner.txt")):
        handles[name] = str(tmp_path / f"{name}.handle")
        made = subprocess.run(
            [probe, "handle_get", str(path), handles[name]],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if made.stdout.strip() != "ok":
            pytest.skip(f"no file handles here: {made.stdout.strip()}")

    def handle_open(vfs: VirtualFS, name: str, flags: str, backend: str | None = None) -> str:
        emu = Emulator(backend=backend)
        vfs.install(emu.handlers)
        argv = [probe, "handle_open", handles[name], str(tree), flags]
        result = emu.run(argv, capture_output=True, timeout=60)
        assert result.stdout is not None
        return result.stdout.decode()

    hidden = VirtualFS().hide(str(tree / "private"))
    assert handle_open(hidden, "key", "0") == "open_by_handle_at: EPERM\n"
    readonly = VirtualFS().readonly(str(tree / "sub"))
    assert handle_open(readonly, "inner", "1") == "open_by_handle_at: EROFS\n"
    assert handle_open(readonly, "inner", "2") == "open_by_handle_at: EROFS\n"
    assert handle_open(readonly, "inner", "0") == "inner\n"  # reading changes nothing
    if seccomp.has_user_notification():  # read-only alone needs no ptrace
        assert handle_open(readonly, "inner", "1", "unotify") == "open_by_handle_at: EROFS\n"
    assert (tree / "sub" / "inner.txt").read_text() == "inner\n"
    # Natively (and with nothing configured) the same handles work: the test can fail.
    assert handle_open(VirtualFS(), "key", "0") == "the key\n"


def test_a_hidden_directory_is_not_walked_through(tree: Path) -> None:
    vfs = VirtualFS().hide(str(tree / "private"))
    for path in (f"{tree}/private/../file.txt", "private/../file.txt"):
        code, out, err = run(vfs, f"cat {path}", cwd=str(tree))
        assert code == 1 and "No such file or directory" in err, (path, out, err)
