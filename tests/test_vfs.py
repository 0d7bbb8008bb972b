"""The virtual filesystem against real programs: binds, hidden and read-only trees, a root.

Every run is bounded (``timeout=``) and its output captured; results are read from what the
programs print. Virtual paths are names that do not exist on the host (``/vfs-test-...``), so
a program that finds its files there went through the mapping.
"""

from __future__ import annotations

import argparse
import errno
import functools
import os
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from sysemu import Emulator, RunResult
from sysemu.abi import abis_for_name
from sysemu.api.call import Call
from sysemu.api.handlers import HandlerSet
from sysemu.engine.spawn import ProgramNotFoundError
from sysemu.kernel import seccomp
from sysemu.tools.vfs import LiveFile, VirtualFS
from sysemu.tools.vfs import cli as vfs_cli

from .conftest import Programs

VIRT = "/vfs-test-data"  # a directory no host has


def run(
    vfs: VirtualFS, argv: list[str], backend: str | None = None, **kwargs: object
) -> tuple[int, str, str, RunResult]:
    emu = Emulator(backend=backend)
    vfs.install(emu.handlers)
    kwargs.setdefault("cwd", vfs.start_cwd)
    result = emu.run(argv, capture_output=True, timeout=60, **kwargs)  # type: ignore[arg-type]
    assert result.stdout is not None and result.stderr is not None
    return result.exit_code, result.stdout.decode(), result.stderr.decode(), result


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """data/ with files, a subdirectory, a secret file and a secret directory."""
    data = tmp_path / "data"
    (data / "sub" / "deeper").mkdir(parents=True)
    (data / "file.txt").write_text("hello from the host\n")
    (data / "sub" / "inner.txt").write_text("inner\n")
    (data / "sub" / "deeper" / "leaf.txt").write_text("leaf\n")
    (data / "secret.txt").write_text("do not show\n")
    (data / "private").mkdir()
    (data / "private" / "key").write_text("key\n")
    return data


def test_the_virtual_path_does_not_exist_on_the_host() -> None:
    assert not os.path.lexists(VIRT)


# Binds.
def test_cat_of_a_bound_file(tree: Path) -> None:
    vfs = VirtualFS().bind(VIRT, str(tree))
    code, out, err, result = run(vfs, ["cat", f"{VIRT}/file.txt"])
    assert (code, out, err) == (0, "hello from the host\n", "")
    assert result.stats["openat"].rewritten >= 1


def test_a_bound_file_alone(tree: Path) -> None:
    vfs = VirtualFS().bind("/vfs-test-file", str(tree / "file.txt"))
    code, out, _, _ = run(vfs, ["cat", "/vfs-test-file"])
    assert (code, out) == (0, "hello from the host\n")


def test_bound_names_appear_in_their_parent_listing(tree: Path) -> None:
    vfs = (
        VirtualFS()
        .bind(VIRT, str(tree))
        .bind("/usr", "/usr")  # a bare bind: the host lists it already, once
        .add_file("/etc/vfs-test-added.conf", "x = 1\n")
    )
    script = (
        "import os\n"
        "for directory in ('/', '/etc'):\n"
        "    for entry in os.scandir(directory):\n"
        "        if entry.name.startswith('vfs-test') or entry.name == 'usr':\n"
        "            print(entry.name, entry.is_dir(follow_symlinks=False), entry.stat().st_size)\n"
        "print(os.listdir('/') == os.listdir('/'))\n"  # a second pass lists the same names
    )
    code, out, err, _ = run(vfs, [sys.executable, "-c", script])
    assert code == 0, err
    lines = out.splitlines()
    assert sorted(lines[:-1]) == sorted(
        [
            f"vfs-test-data True {tree.stat().st_size}",
            f"usr True {Path('/usr').stat().st_size}",
            "vfs-test-added.conf False 6",
        ]
    )
    assert lines[-1] == "True"
    code, out, _, _ = run(vfs, ["ls", "-la", "/etc"])
    assert code == 0 and " vfs-test-added.conf\n" in out


def skip_without_old_getdents(call: str) -> None:
    if call == "lsold" and not abis_for_name("getdents"):
        pytest.skip("no getdents here (asm-generic machines have getdents64 only)")


@pytest.mark.parametrize("build", ["64", "m32"])
@pytest.mark.parametrize("call", ["ls", "lsold"])
def test_bound_names_in_raw_listings(programs: Programs, tree: Path, build: str, call: str) -> None:
    skip_without_old_getdents(call)
    vfs = VirtualFS().bind(f"{VIRT}/../vfs-test-bound", str(tree)).hide(f"{tree}/private")
    vfs.add_file("/vfs-test-file.txt", "content\n").hide("/vfs-test-hidden-bind")
    vfs.bind("/vfs-test-hidden-bind", str(tree))
    program = programs.vfs_probe if build == "64" else programs.m32("vfs_probe")
    for size in ("600", "32768"):  # 600: room for the bound names and little else
        code, out, err, _ = run(vfs, [program, call, "/", size, "types"])
        assert code == 0, err
        listed = [line for line in out.splitlines() if "vfs-test" in line]
        assert sorted(listed) == ["vfs-test-bound 4", "vfs-test-file.txt 8"], out
        assert len(out.splitlines()) == len(os.listdir("/")) + 4  # ".", ".." and two names
    # A buffer too small for them and a record of the kernel's: the names are left out.
    code, out, _, _ = run(vfs, [program, call, "/", "300", "types"])
    assert code == 0 and "vfs-test" not in out


def test_an_added_program_runs() -> None:
    vfs = VirtualFS().add_file("/opt/vfs-test-tool", "#!/bin/sh\necho tool ran: $1\n", mode=0o555)
    code, out, err, _ = run(vfs, ["sh", "-c", "/opt/vfs-test-tool first; ls -l /opt/vfs-test-tool"])
    assert code == 0, err
    assert out.splitlines()[0] == "tool ran: first"
    assert out.splitlines()[1].startswith("-r-xr-xr-x")
    with pytest.raises(ValueError, match="is not a permission mode"):
        VirtualFS().add_file("/x", b"", mode=0o10000)


def test_an_added_file_with_content_made_at_each_open() -> None:
    openers: list[int] = []

    def counter(call: Call) -> str:
        openers.append(call.pid)
        return f"open number {len(openers)}\n"

    vfs = VirtualFS().add_file("/vfs-test-counter", counter)
    script = (
        "import mmap, os, sys\n"
        "print(open('/vfs-test-counter').read(), end='')\n"
        "f = open('/vfs-test-counter', 'rb')\n"
        "print(open('/vfs-test-counter').read(), end='')\n"  # a later open: its own content
        "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
        "print(bytes(m).decode(), os.fstat(f.fileno()).st_size, end=' ')\n"
        "os.lseek(f.fileno(), 5, 0); print(os.read(f.fileno(), 6))\n"
        # Flushed around the fork: without PYTHONUNBUFFERED the child's line stays in its
        # buffer at os._exit, and a buffer not flushed before the fork is written twice.
        "sys.stdout.flush()\n"
        "if os.fork() == 0:\n"  # a child reads the inherited descriptor
        "    os.lseek(f.fileno(), 0, 0); print(f.read().decode(), end='', flush=True)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "try:\n"
        "    open('/vfs-test-counter', 'a')\n"
        "except OSError as error:\n"
        "    print(error.errno == 30)\n"
    )
    code, out, err, _ = run(vfs, [sys.executable, "-c", script])
    assert (code, err) == (0, "")
    assert out == (
        "open number 1\nopen number 3\nopen number 2\n 14 b'number'\nopen number 2\nTrue\n"
    )
    assert len(openers) == 3 and len(set(openers)) == 1  # the python process, 3 opens
    files = vfs._files
    assert files is not None and len(os.listdir(files.name)) == 1  # the snapshots are gone
    code, out, _, _ = run(vfs, ["cat", "/vfs-test-counter"])
    assert (code, out) == (0, "open number 4\n")


def test_a_content_function_that_raises_is_a_handler_error() -> None:
    def broken(call: Call) -> bytes:
        raise RuntimeError("no content today")

    emu = Emulator(on_error="fail", error_errno=errno.EIO, report=None)
    emu.fs.add_file("/vfs-test-broken", broken)
    result = emu.run(["cat", "/vfs-test-broken"], capture_output=True, timeout=60)
    assert result.exit_code == 1 and b"Input/output error" in (result.stderr or b"")
    assert "no content today" in str(result.handler_errors[0].__cause__)


def test_emulator_fs_is_put_in_front_of_each_run(tree: Path) -> None:
    emu = Emulator()
    emu.fs.bind(VIRT, str(tree)).add_file("/etc/vfs-test-motd", b"hello\n")
    argv = ["cat", f"{VIRT}/file.txt", "/etc/vfs-test-motd"]
    result = emu.run(argv, capture_output=True, timeout=60)
    assert (result.exit_code, result.stdout) == (0, b"hello from the host\nhello\n")
    emu.fs.hide(f"{VIRT}/file.txt")  # a change applies to the next run
    result = emu.run(argv[:2], capture_output=True, timeout=60)
    assert result.exit_code == 1 and b"No such file or directory" in (result.stderr or b"")
    assert len(emu.handlers) == 0  # the user's own set is left as it was
    emu.fs.cwd(f"{VIRT}/sub")  # and a run without cwd= starts there
    result = emu.run(["sh", "-c", "pwd -P; cat inner.txt"], capture_output=True, timeout=60)
    assert (result.exit_code, result.stdout) == (0, f"{VIRT}/sub\ninner\n".encode())


def test_missing_parents_of_a_bind_are_directories(tree: Path) -> None:
    vfs = VirtualFS().bind(f"{VIRT}/a/b", str(tree)).add_file(f"{VIRT}/c/d/e.txt", "e\n")
    script = (
        f"stat -c %F {VIRT} {VIRT}/a {VIRT}/c/d; ls {VIRT}; ls {VIRT}/a {VIRT}/c; "
        f"cat {VIRT}/a/b/file.txt {VIRT}/c/d/e.txt"
    )
    code, out, err, _ = run(vfs, ["sh", "-c", script])
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "directory", "directory", "directory", "a", "c",
        f"{VIRT}/a:", "b", "", f"{VIRT}/c:", "d", "hello from the host", "e",
    ]  # fmt: skip
    assert not os.path.lexists(VIRT)


def test_an_added_file_is_readable_and_read_only() -> None:
    vfs = VirtualFS().add_file("/vfs-test-added/config.ini", "[main]\nkey = value\n")
    code, out, _, _ = run(vfs, ["cat", "/vfs-test-added/config.ini"])
    assert (code, out) == (0, "[main]\nkey = value\n")
    script = (
        "import mmap, os\n"
        "f = open('/vfs-test-added/config.ini', 'rb')\n"
        "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
        "print(bytes(m[:6]), os.fstat(f.fileno()).st_size)\n"
        "try:\n"
        "    open('/vfs-test-added/config.ini', 'w')\n"
        "except OSError as error:\n"
        "    print(error.errno == 30)\n"
    )
    code, out, err, _ = run(vfs, [sys.executable, "-c", script])
    assert (code, out, err) == (0, "b'[main]' 19\nTrue\n", "")
    assert not os.path.lexists("/vfs-test-added")


def test_ls_la_of_a_bound_directory(tree: Path) -> None:
    vfs = VirtualFS().bind(VIRT, str(tree))
    code, out, err, _ = run(vfs, ["ls", "-la", VIRT])
    assert (code, err) == (0, "")
    names = [line.split()[-1] for line in out.splitlines()[1:]]
    assert sorted(names) == [".", "..", "file.txt", "private", "secret.txt", "sub"]
    assert "?" not in out  # every entry, ".." included, could be stat'ed


def test_find_in_a_bound_tree(tree: Path) -> None:
    vfs = VirtualFS().bind(VIRT, str(tree))
    code, out, err, _ = run(vfs, ["find", VIRT])
    native = subprocess.run(["find", str(tree)], capture_output=True, text=True, check=True)
    expected = sorted(line.replace(str(tree), VIRT, 1) for line in native.stdout.splitlines())
    assert (code, err) == (0, "")
    assert sorted(out.splitlines()) == expected


def test_python_imports_a_module_from_a_bound_directory(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "vfs_greeting.py").write_text("WORDS = 'imported through the bind'\n")
    vfs = VirtualFS().bind("/vfs-test-lib", str(lib))
    code, out, err, _ = run(
        vfs,
        [
            sys.executable,
            "-S",
            "-c",
            "import vfs_greeting; print(vfs_greeting.WORDS); print(vfs_greeting.__file__)",
        ],
        env={**os.environ, "PYTHONPATH": "/vfs-test-lib", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == ["imported through the bind", "/vfs-test-lib/vfs_greeting.py"]


def test_sh_runs_a_script_from_a_bound_path(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "data").write_text("next to the script\n")
    (scripts / "run.sh").write_text('cd "$(dirname "$0")"\npwd\ncat data\nls\n')
    vfs = VirtualFS().bind("/vfs-test-scripts", str(scripts))
    code, out, err, _ = run(vfs, ["sh", "/vfs-test-scripts/run.sh"])
    assert (code, err) == (0, "")
    assert out.splitlines() == ["/vfs-test-scripts", "next to the script", "data", "run.sh"]


def test_relative_paths_and_dotdot_leave_and_enter_the_bind(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("outside\n")
    vfs = VirtualFS().bind(VIRT, str(tree)).cwd(f"{VIRT}/sub")
    script = f"cat inner.txt ../file.txt deeper/../inner.txt; cat {tmp_path}/outside.txt; pwd"
    code, out, err, _ = run(vfs, ["sh", "-c", script])
    assert (code, err) == (0, "")
    assert out.splitlines() == ["inner", "hello from the host", "inner", "outside", f"{VIRT}/sub"]


def test_matching_is_by_whole_components(tmp_path: Path, tree: Path) -> None:
    sibling = tmp_path / "data-other"  # shares the prefix "data" with the bound tree
    sibling.mkdir()
    (sibling / "f").write_text("sibling\n")
    vfs = VirtualFS().bind(f"{tmp_path}/data", str(tree / "sub"))
    code, out, _, _ = run(vfs, ["cat", f"{tmp_path}/data/inner.txt", f"{tmp_path}/data-other/f"])
    assert (code, out) == (0, "inner\nsibling\n")


def test_dirfd_relative_calls_and_the_virtual_cwd(tree: Path, programs: Programs) -> None:
    vfs = VirtualFS().bind(VIRT, str(tree))
    code, out, _, _ = run(vfs, [programs.vfs_probe, "cat_at", f"{VIRT}/sub", "deeper/leaf.txt"])
    assert (code, out) == (0, "leaf\n")
    code, out, _, _ = run(vfs, [programs.vfs_probe, "cwd", f"{VIRT}/sub/deeper"])
    assert (code, out.splitlines()) == (0, [f"{VIRT}/sub/deeper"] * 2)


def test_getcwd_size_is_checked_against_the_virtual_path(tree: Path, programs: Programs) -> None:
    vfs = VirtualFS().bind("/v", str(tree)).cwd("/v")
    # "/v" needs 3 bytes: enough, though the host path would not fit.
    assert run(vfs, [programs.vfs_probe, "getcwd", "3"])[1] == "3 /v\n"
    assert run(vfs, [programs.vfs_probe, "getcwd", "2"])[1] == "getcwd: ERANGE\n"


# Hidden paths.
def test_hidden_entries_are_absent(tree: Path) -> None:
    vfs = VirtualFS().bind(VIRT, str(tree)).hide(f"{VIRT}/secret.txt").hide(f"{VIRT}/private")
    code, out, _, _ = run(vfs, ["ls", "-a", VIRT])
    assert (code, out.split()) == (0, [".", "..", "file.txt", "sub"])
    code, out, _, _ = run(vfs, ["find", VIRT])
    assert code == 0
    assert "secret" not in out and "private" not in out and f"{VIRT}/sub/deeper/leaf.txt" in out
    for path in (f"{VIRT}/secret.txt", f"{VIRT}/private/key", f"{VIRT}/sub/../private/key"):
        code, out, err, _ = run(vfs, ["cat", path])
        assert code == 1
        assert "No such file or directory" in err, path


def test_hidden_host_paths_without_binds(tree: Path) -> None:
    vfs = VirtualFS().hide(str(tree / "secret.txt"))
    code, out, _, _ = run(vfs, ["ls", str(tree)])
    assert (code, out.split()) == (0, ["file.txt", "private", "sub"])
    code, _, err, _ = run(vfs, ["sh", "-c", "cd .. && cat data/secret.txt"], cwd=str(tree))
    assert code == 1 and "No such file or directory" in err


@pytest.mark.parametrize("build", ["64", "m32"])
@pytest.mark.parametrize("call", ["ls", "lsold"])
def test_hidden_names_leave_small_listings_whole(
    tmp_path: Path, programs: Programs, build: str, call: str
) -> None:
    skip_without_old_getdents(call)
    big = tmp_path / "big"
    big.mkdir()
    for index in range(40):
        (big / f"f{index:02}").touch()
    vfs = VirtualFS()
    hidden = {f"f{index:02}" for index in range(5, 30)}  # long runs of hidden names
    for name in hidden:
        vfs.hide(str(big / name))
    program = programs.vfs_probe if build == "64" else programs.m32("vfs_probe")
    # 32 bytes hold one record: whole batches are hidden, and the kernel must read on.
    for size in ("32", "4096"):
        code, out, _, _ = run(vfs, [program, call, str(big), size])
        expected = {".", ".."} | {f"f{index:02}" for index in range(40)} - hidden
        assert (code, sorted(out.split())) == (0, sorted(expected))


# Read-only trees.
def test_readonly_refuses_changes_and_allows_reads(tree: Path) -> None:
    vfs = VirtualFS().bind(VIRT, str(tree)).readonly(f"{VIRT}/sub")
    before = sorted(str(p) for p in tree.rglob("*"))
    commands = [
        f"touch {VIRT}/sub/new",
        f"rm {VIRT}/sub/inner.txt",
        f"mkdir {VIRT}/sub/dir",
        f"echo x > {VIRT}/sub/inner.txt",
        f"echo x >> {VIRT}/sub/inner.txt",
        f"mv {VIRT}/sub/inner.txt {VIRT}/moved",
        f"ln -s x {VIRT}/sub/link",
        f"chmod 600 {VIRT}/sub/inner.txt",
        f"rmdir {VIRT}/sub/deeper",
        f"touch {VIRT}/sub",
    ]
    for command in commands:
        code, _, err, _ = run(vfs, ["sh", "-c", command])
        assert code != 0, command
        assert "Read-only file system" in err, (command, err)
    code, out, _, _ = run(vfs, ["sh", "-c", f"cat {VIRT}/sub/inner.txt; ls {VIRT}/sub"])
    assert (code, out.split()) == (0, ["inner", "deeper", "inner.txt"])
    # Outside the read-only tree, changes work.
    code, _, _, _ = run(vfs, ["sh", "-c", f"echo y > {VIRT}/new.txt && rm {VIRT}/new.txt"])
    assert code == 0
    assert sorted(str(p) for p in tree.rglob("*")) == before
    assert (tree / "sub" / "inner.txt").read_text() == "inner\n"


@pytest.mark.filter_only
def test_readonly_alone_stops_only_changing_calls(tree: Path) -> None:
    vfs = VirtualFS().readonly(str(tree))
    code, out, _, result = run(vfs, ["sh", "-c", f"cat {tree}/file.txt; touch {tree}/x"])
    assert code == 1 and out == "hello from the host\n"
    stopped = {row.name for row in result.stats}
    assert "newfstatat" not in stopped and "execve" not in stopped  # lookups never stop
    openat = result.stats["openat"]
    assert (openat.stops, openat.failed) == (1, 1)  # cat's read-only opens did not stop either
    assert not (tree / "x").exists()


def test_readonly_is_not_bypassed_by_links_or_proc_fd(tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tree / "sub" / "inner.txt")
    vfs = VirtualFS().readonly(str(tree / "sub"))
    for command in (
        f"echo x > {link}",
        f"exec 3<{tree}/sub/inner.txt; echo x > /proc/self/fd/3",
        f"ln {tree}/sub/inner.txt {tmp_path}/hardlink",
    ):
        code, _, err, _ = run(vfs, ["sh", "-c", command])
        assert code != 0 and "Read-only file system" in err, (command, err)
    code, _, _, _ = run(vfs, ["rm", str(link)])  # the link itself is not read-only
    assert code == 0 and not link.exists()
    assert (tree / "sub" / "inner.txt").read_text() == "inner\n"


@pytest.mark.parametrize("build", ["64", "m32"])
def test_readonly_openat2_and_fd_calls(tree: Path, programs: Programs, build: str) -> None:
    program = programs.vfs_probe if build == "64" else programs.m32("vfs_probe")
    vfs = VirtualFS().bind(VIRT, str(tree)).readonly(f"{VIRT}/sub")
    inner = f"{VIRT}/sub/inner.txt"
    o_wronly, o_creat = "1", "100"
    assert run(vfs, [program, "openat2", inner, o_wronly])[1] == "openat2: EROFS\n"
    assert run(vfs, [program, "openat2", f"{VIRT}/sub/new", o_creat])[1] == "openat2: EROFS\n"
    assert run(vfs, [program, "openat2", inner, "0"])[1] == "ok\n"
    assert run(vfs, [program, "openat2", inner, o_creat])[1] == "ok\n"  # exists: read-only open
    assert run(vfs, [program, "fchmod", inner])[1] == "fchmod: EROFS\n"
    assert run(vfs, [program, "fchmod", f"{VIRT}/file.txt"])[1] == "ok\n"
    assert not (tree / "sub" / "new").exists()


def test_a_restarted_call_is_not_mapped_twice(tree: Path, programs: Programs) -> None:
    # The open blocks, a stop and continue interrupts it, and the kernel runs it again with
    # the registers as rewritten: the path there is a host path already.
    os.mkfifo(tree / "fifo")
    vfs = VirtualFS().root(str(tree))
    vfs.bind(os.path.dirname(programs.vfs_probe), os.path.dirname(programs.vfs_probe))
    host_system(vfs)
    code, out, _, _ = run(vfs, [programs.vfs_probe, "fifo", "/fifo"])
    assert (code, out) == (0, "through the fifo\n")
    # A signal handler runs on the stack where the rewritten path was written: the restarted
    # open must still name the host FIFO.
    code, out, _, _ = run(vfs, [programs.vfs_probe, "fifo_handler", "/fifo"])
    assert (code, out) == (0, "through the fifo\n")


@pytest.mark.parametrize("backend", ["seccomp", "ptrace", "sysemu", "auto"])
def test_every_backend_that_rewrites(tree: Path, backend: str) -> None:
    vfs = VirtualFS().bind(VIRT, str(tree)).hide(f"{VIRT}/private").readonly(f"{VIRT}/sub")
    script = f"cd {VIRT}; ls; cat sub/inner.txt; pwd; touch sub/x; cat private/key"
    code, out, err, _ = run(vfs, ["sh", "-c", script], backend=backend)
    assert out.split() == ["file.txt", "secret.txt", "sub", "inner", VIRT]
    assert "Read-only file system" in err and "No such file or directory" in err
    assert code == 1


@pytest.mark.skipif(not seccomp.has_user_notification(), reason="no seccomp user notification")
def test_readonly_alone_needs_no_ptrace(tree: Path) -> None:
    vfs = VirtualFS().readonly(str(tree / "sub"))
    assert vfs.decides_only
    script = f"cat {tree}/sub/inner.txt; touch {tree}/sub/x"
    code, out, err, _ = run(vfs, ["sh", "-c", script], backend="unotify")
    assert (code, out) == (1, "inner\n")
    assert "Read-only file system" in err


def test_unotify_refuses_rewriting_views_before_anything_runs(tree: Path, tmp_path: Path) -> None:
    from sysemu.engine.notify import UnsupportedError  # noqa: PLC0415

    class Sensor(LiveFile):
        def read(self, offset: int, size: int) -> bytes:
            return b""

    marker = tmp_path / "ran"
    for vfs in (
        VirtualFS().bind(VIRT, str(tree)),
        VirtualFS().hide(str(tree / "secret.txt")),
        VirtualFS().add_file("/vfs-test-sensor", Sensor()),
    ):
        with pytest.raises(UnsupportedError, match="rewrites arguments or edits results"):
            run(vfs, ["touch", str(marker)], backend="unotify")
        assert not marker.exists()


@pytest.mark.skipif(not seccomp.has_user_notification(), reason="no seccomp user notification")
def test_auto_backend_with_hidden_and_readonly_paths(tree: Path) -> None:
    vfs = VirtualFS().readonly(str(tree / "sub")).hide(str(tree / "secret.txt"))
    assert not vfs.decides_only  # listings are edited at syscall exit
    script = f"ls {tree}; touch {tree}/sub/x; cat {tree}/secret.txt"
    code, out, err, _ = run(vfs, ["sh", "-c", script], backend="auto")
    assert out.split() == ["file.txt", "private", "sub"]
    assert "Read-only file system" in err and "No such file or directory" in err
    assert code == 1


# A root.
@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A root with its own files, and mount points for the host's system directories."""
    root = tmp_path / "root"
    (root / "home" / "user").mkdir(parents=True)
    (root / "home" / "user" / "notes.txt").write_text("in the root\n")
    (root / "etc").mkdir()
    (root / "only-in-root").write_text("mine\n")
    for name in ("usr", "lib", "lib64", "bin", "proc"):
        (root / name).mkdir(exist_ok=True)
    return root


def host_system(vfs: VirtualFS) -> VirtualFS:
    for path in ("/usr", "/lib", "/lib64", "/bin", "/etc", "/proc"):
        if os.path.exists(path):
            vfs.bind(path, path)
    return vfs


def test_root_shows_its_own_files(rootfs: Path) -> None:
    vfs = host_system(VirtualFS().root(str(rootfs)).cwd("/home/user"))
    code, out, err, _ = run(vfs, ["sh", "-c", "pwd; ls /; cat notes.txt /only-in-root"])
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "/home/user"
    own = ["bin", "etc", "home", "lib", "lib64", "only-in-root", "proc", "usr"]
    assert lines[1:-2] == own
    assert lines[-2:] == ["in the root", "mine"]


def test_root_cannot_be_left(rootfs: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("outside\n")
    vfs = host_system(VirtualFS().root(str(rootfs)))
    script = f"cd ../../../..; pwd; ls; cat {tmp_path}/outside ../../outside"
    code, out, err, _ = run(vfs, ["sh", "-c", script])
    assert out.splitlines()[0] == "/"
    assert "only-in-root" in out.split()
    assert "outside\n" not in out
    assert err.count("No such file or directory") == 2
    assert code == 1


def test_root_cwd_and_proc_links_are_virtual(rootfs: Path) -> None:
    vfs = host_system(VirtualFS().root(str(rootfs)).cwd("/home"))
    script = "readlink /proc/self/cwd /proc/self/root; cd user && readlink /proc/self/cwd"
    code, out, err, _ = run(vfs, ["sh", "-c", script])
    assert (code, err) == (0, "")
    assert out.splitlines() == ["/home", "/", "/home/user"]


def test_root_with_a_32bit_program(rootfs: Path, programs: Programs) -> None:
    program = Path(programs.m32("vfs_probe"))
    vfs = host_system(VirtualFS().root(str(rootfs)).cwd("/home/user"))
    vfs.bind("/probe", str(program.parent))
    probe = f"/probe/{program.name}"
    # Through sh: Emulator.run looks the program up on the host, where /probe is not.
    script = f"{probe} cwd ..; {probe} cat_at /home user/notes.txt; {probe} ls / 4096"
    code, out, err, _ = run(vfs, ["sh", "-c", script])
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:3] == ["/home", "/home", "in the root"]
    assert "only-in-root" in lines[3:] and "probe" in lines[3:]  # the bind point is listed


# Symbolic links, followed in the virtual view.
def test_links_in_a_root_point_into_the_root(rootfs: Path) -> None:
    data = rootfs / "data"
    data.mkdir()
    (data / "real.txt").write_text("real\n")
    (rootfs / "only-in-root").unlink()
    (rootfs / "etc" / "abs").symlink_to("/data/real.txt")  # absolute: the root's /data
    (rootfs / "etc" / "dirlink").symlink_to("/data")
    (rootfs / "etc" / "rel").symlink_to("../data/real.txt")
    (rootfs / "etc" / "chain").symlink_to("/etc/dirlink/../data/real.txt")
    (rootfs / "loop1").symlink_to("/loop2")
    (rootfs / "loop2").symlink_to("/loop1")
    (rootfs / "etc" / "dangling").symlink_to("/nowhere")
    vfs = VirtualFS().root(str(rootfs))
    for path in ("/usr", "/lib", "/lib64", "/bin", "/proc"):  # not /etc: the root's own
        if os.path.exists(path):
            vfs.bind(path, path)
    script = (
        "cat /etc/abs /etc/dirlink/real.txt /etc/rel /etc/chain; readlink /etc/abs; "
        "ls /etc/dirlink; "
        "[ -L /etc/abs ] && echo abs is a link; cd /etc/dirlink && pwd -P; "
        "cat /loop1 2>&1; [ -e /etc/dangling ] || echo dangling; "
        "python3 -c 'import os; print(os.path.realpath(\"/etc/abs\"))'"
    )
    code, out, err, _ = run(vfs, ["sh", "-c", script])
    assert err == ""
    assert out.splitlines() == [
        "real",
        "real",
        "real",
        "real",  # dirlink/.. is the parent of /data, where the link leads, as the kernel walks
        "/data/real.txt",  # a link's text is not mapped: it means the virtual path
        "real.txt",
        "abs is a link",
        "/data",
        "cat: /loop1: Too many levels of symbolic links",
        "dangling",
        "/data/real.txt",
    ]
    assert code == 0


def test_links_in_a_bound_tree_mean_virtual_paths(tree: Path) -> None:
    (tree / "to-file").symlink_to(f"{VIRT}/file.txt")  # a name only the program knows
    (tree / "to-secret").symlink_to(f"{VIRT}/secret.txt")
    (tree / "sub" / "up").symlink_to("../file.txt")
    vfs = VirtualFS().bind(VIRT, str(tree)).hide(f"{VIRT}/secret.txt")
    script = f"cat {VIRT}/to-file {VIRT}/sub/up; cat {VIRT}/to-secret"
    code, out, err, _ = run(vfs, ["sh", "-c", script])
    assert out == "hello from the host\nhello from the host\n"
    assert code == 1 and "to-secret: No such file or directory" in err


LOADER_PROBE = r"""
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char exe[256] = "";
    if (argc > 1 && fork() == 0) argc = 1;  /* a child: the same program, from fork */
    else if (argc > 1) { wait(NULL); return 0; }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    printf("argv0=%s exe=%s argc=%d\n", argv[0], exe, argc);
    return 0;
}
"""


def native_loader() -> str:
    """The dynamic loader this machine's own programs name (``/bin/sh``'s ``PT_INTERP``):
    ``/lib64/ld-linux-x86-64.so.2`` on x86-64, ``/lib/ld-linux-aarch64.so.1`` on aarch64."""
    image = Path(os.path.realpath("/bin/sh")).read_bytes()
    assert image[:5] == b"\x7fELF\x02", "a 64-bit ELF file"
    (header_offset,) = struct.unpack_from("<Q", image, 32)
    entry_size, entries = struct.unpack_from("<HH", image, 54)
    for index in range(entries):
        at = header_offset + index * entry_size
        (kind,) = struct.unpack_from("<I", image, at)
        if kind == 3:  # PT_INTERP: p_offset at 8, p_filesz at 32
            (offset,) = struct.unpack_from("<Q", image, at + 8)
            (size,) = struct.unpack_from("<Q", image, at + 32)
            return image[offset : offset + size].rstrip(b"\0").decode()
    raise AssertionError("/bin/sh names no loader")


@pytest.mark.parametrize("bits", ["64", "32"])
def test_a_program_whose_loader_exists_only_in_the_root(
    rootfs: Path, tmp_path: Path, bits: str
) -> None:
    if bits == "32" and os.uname().machine != "x86_64":
        pytest.skip("32-bit programs are built here with x86's -m32")
    host_loader = os.path.realpath(native_loader() if bits == "64" else "/lib/ld-linux.so.2")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not os.path.exists(host_loader):
        pytest.skip(f"no C compiler or no {bits}-bit loader here")
    (rootfs / "vfs-test-ld").mkdir()
    shutil.copy2(host_loader, rootfs / "vfs-test-ld" / "ld.so")  # a loader only the root has
    (rootfs / "apps").mkdir()
    source, program = tmp_path / "probe.c", rootfs / "apps" / "probe"
    source.write_text(LOADER_PROBE)
    flags = ["-m32"] if bits == "32" else []
    built = subprocess.run(
        [compiler, *flags, "-Wl,--dynamic-linker=/vfs-test-ld/ld.so", "-o", str(program),
         str(source)],
        capture_output=True, check=False,
    )  # fmt: skip
    if built.returncode != 0:
        pytest.skip(f"cannot build a {bits}-bit program: {built.stderr.decode()[-200:]}")
    with pytest.raises(FileNotFoundError):  # natively the kernel finds no loader
        subprocess.run([str(program)], check=False)
    vfs = host_system(VirtualFS().root(str(rootfs)))
    code, out, err, _ = run(vfs, ["sh", "-c", "/apps/probe; cd /apps && ./probe fork"])
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "argv0=/apps/probe exe=/apps/probe argc=1",
        "argv0=./probe exe=/apps/probe argc=1",  # the forked child of the second
    ]


UNIX_SOCKETS = """
import errno, os, socket, sys
where = sys.argv[1]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(where + "/stream.sock")
server.listen(1)
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect(where + "/stream.sock")
connection, _ = server.accept()
client.sendall(b"through the stream")
print(connection.recv(100).decode(), os.path.exists(where + "/stream.sock"))
print(server.getsockname() == client.getpeername() == where + "/stream.sock")
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.bind(where + "/datagram.sock")
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"a datagram", where + "/datagram.sock")
print(receiver.recv(100).decode())
for name in sys.argv[2:]:
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(name.replace("@", "\\0"))
        print(name, "bound")
    except OSError as error:
        print(name, errno.errorcode[error.errno])
"""


def test_unix_socket_addresses_are_paths_too(tree: Path, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 50)
    deep.mkdir(parents=True)
    vfs = (
        VirtualFS()
        .bind(VIRT, str(tree))
        .bind("/vfs-test-deep", str(deep))
        .hide(f"{VIRT}/private")
        .readonly(f"{VIRT}/sub")
    )
    argv = [
        sys.executable, "-c", UNIX_SOCKETS, VIRT,
        f"{VIRT}/private/x.sock", f"{VIRT}/sub/x.sock", "/vfs-test-deep/x.sock", "@abstract",
    ]  # fmt: skip
    code, out, err, _ = run(vfs, argv)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "through the stream True",
        "True",  # the names given back are the virtual ones
        "a datagram",
        f"{VIRT}/private/x.sock ENOENT",
        f"{VIRT}/sub/x.sock EROFS",
        "/vfs-test-deep/x.sock ENAMETOOLONG",  # the host path would not fit in sun_path
        "@abstract bound",  # an abstract name (a leading NUL) is no file: left alone
    ]
    assert stat.S_ISSOCK((tree / "stream.sock").stat().st_mode)
    assert stat.S_ISSOCK((tree / "datagram.sock").stat().st_mode)


def test_a_program_only_in_the_root_is_found_there(rootfs: Path) -> None:
    (rootfs / "opt").mkdir()
    tool = rootfs / "opt" / "vfs-test-tool"
    tool.write_text('#!/bin/sh\necho "tool in the root, as $0"\n')
    tool.chmod(0o755)
    emu = Emulator()
    host_system(emu.fs.root(str(rootfs)))
    result = emu.run(["/opt/vfs-test-tool"], capture_output=True, timeout=60)
    assert (result.exit_code, result.stdout) == (0, b"tool in the root, as /opt/vfs-test-tool\n")
    path = {"PATH": "/opt:/usr/bin:/bin"}
    result = emu.run(["vfs-test-tool"], env=path, capture_output=True, timeout=60)
    assert (result.exit_code, result.stdout) == (0, b"tool in the root, as /opt/vfs-test-tool\n")
    with pytest.raises(ProgramNotFoundError, match="vfs-test-nothing: command not found"):
        emu.run(["vfs-test-nothing"], env=path, timeout=60)
    # The command line looks it up in the root too.
    binds = [f"--bind={p}" for p in ("/usr", "/lib", "/lib64", "/bin") if os.path.exists(p)]
    done = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "--root", str(rootfs), *binds, "--",
         "/opt/vfs-test-tool"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "tool in the root, as /opt/vfs-test-tool\n")


def bare_root(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """A root without mount points, the host's system directories that bare binds name in it
    (directories the root does not have), and what `ls -a /` lists there."""
    root = tmp_path / "bare-root"
    (root / "etc").mkdir(parents=True)
    (root / "only-in-root").write_text("mine\n")
    system = [p for p in ("/usr", "/lib", "/lib64", "/bin") if os.path.isdir(p)]
    expected = sorted([".", "..", "etc", "only-in-root", *(p[1:] for p in system)])
    return root, system, expected


def test_identity_binds_are_listed_in_a_root(tmp_path: Path) -> None:
    root, system, expected = bare_root(tmp_path)
    binds = [f"--bind={p}" for p in system]
    shown = sysemu_cli("run", "--root", str(root), *binds, "--", "ls", "-a", "/")
    assert (shown.returncode, shown.stderr) == (0, "")
    assert sorted(shown.stdout.split()) == expected


def test_identity_binds_are_listed_in_a_root_as_proot_lists_them(tmp_path: Path) -> None:
    need_proot()
    root, system, expected = bare_root(tmp_path)
    proot = subprocess.run(
        ["proot", "-r", str(root), "-w", "/", *(f"--bind={p}" for p in system), "ls", "-a", "/"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (proot.returncode, sorted(proot.stdout.split())) == (0, expected)


# Real programs: git, tar, make.
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_status_in_a_bound_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    for index in range(30):
        (repo / "src" / f"file{index}.c").write_text(f"int f{index};\n")
    author = ["-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (["init", "-q"], ["add", "-A"], [*author, "commit", "-q", "-m", "files"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, timeout=60)
    (repo / "src" / "file7.c").write_text("int changed;\n")
    (repo / "untracked.txt").write_text("new\n")
    (repo / "src" / "file9.c").unlink()
    status = ["status", "--porcelain", "--untracked-files=all"]
    native = subprocess.run(
        ["git", "-C", str(repo), *status], capture_output=True, text=True, check=True, timeout=60
    )
    assert native.stdout == " M src/file7.c\n D src/file9.c\n?? untracked.txt\n"
    vfs = VirtualFS().bind(VIRT, str(repo))
    code, out, err, _ = run(vfs, ["git", "-C", VIRT, *status])
    assert (code, out, err) == (0, native.stdout, "")
    code, out, _, _ = run(vfs, ["git", "-C", VIRT, "rev-parse", "--show-toplevel"])
    assert (code, out) == (0, f"{VIRT}\n")


def test_tar_of_a_tree_with_hidden_entries(tree: Path, tmp_path: Path) -> None:
    vfs = VirtualFS().hide(str(tree / "secret.txt")).hide(str(tree / "private"))
    archive = tmp_path / "tree.tar"
    code, _, err, _ = run(vfs, ["tar", "cf", str(archive), "-C", str(tree), "."])
    assert (code, err) == (0, "")
    listed = subprocess.run(
        ["tar", "tf", str(archive)], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert sorted(listed) == [
        "./", "./file.txt", "./sub/", "./sub/deeper/", "./sub/deeper/leaf.txt", "./sub/inner.txt",
    ]  # fmt: skip


@pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("cc") is None, reason="make or cc is missing"
)
def test_make_builds_in_a_root(rootfs: Path) -> None:
    project = rootfs / "home" / "user" / "project"
    project.mkdir()
    (project / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("built"); }\n')
    (project / "in.txt").write_text("data\n")
    (project / "Makefile").write_text(
        "all: hello out.txt\nhello: hello.c\n\tcc -o hello hello.c\n"
        "out.txt: in.txt\n\tcp in.txt out.txt\n"
    )
    (rootfs / "tmp").mkdir()
    (rootfs / "dev").mkdir()
    vfs = host_system(VirtualFS().root(str(rootfs)).cwd("/home/user/project"))
    vfs.bind("/dev", "/dev").bind("/tmp", str(rootfs / "tmp"))
    code, out, err, _ = run(vfs, ["sh", "-c", "make && ./hello && cat out.txt && pwd"])
    assert code == 0, err
    assert out.splitlines()[-3:] == ["built", "data", "/home/user/project"]
    assert (project / "hello").is_file() and (project / "out.txt").read_text() == "data\n"


def test_a_script_in_the_root_runs_with_an_interpreter_from_the_root(rootfs: Path) -> None:
    tools = rootfs / "tools"
    tools.mkdir()
    (tools / "interp").write_text('#!/bin/sh\necho "interp got: $*"\n')
    (rootfs / "home" / "user" / "run.sh").write_text("#!/tools/interp -v\nnot shell\n")
    for program in (tools / "interp", rootfs / "home" / "user" / "run.sh"):
        program.chmod(0o755)
    (rootfs / "home" / "user" / "plain.txt").write_text("#!/tools/interp\n")  # not executable
    vfs = host_system(VirtualFS().root(str(rootfs)).cwd("/home/user"))
    script = "./run.sh x y; /home/user/run.sh z; ./plain.txt"
    code, out, err, _ = run(vfs, ["sh", "-c", script])
    assert out == "interp got: -v ./run.sh x y\ninterp got: -v /home/user/run.sh z\n"
    assert code == 126 and "Permission denied" in err


def test_scripts_the_kernel_names_rightly_are_left_to_it(tmp_path: Path) -> None:
    script = tmp_path / "named.sh"
    script.write_text('#!/bin/sh\necho "$0"; cat /proc/$$/comm\n')
    script.chmod(0o755)
    vfs = VirtualFS().bind("/usr", "/usr").bind(VIRT, str(tmp_path))
    code, out, err, _ = run(vfs, ["sh", "-c", f"{script}; {VIRT}/named.sh"])
    assert code == 0, err
    # Natively a script's process is named after the script; through the bind it is named
    # after its interpreter, since sysemu makes that exec (see docs/vfs.md, "Scripts").
    assert out.splitlines() == [str(script), "named.sh", f"{VIRT}/named.sh", "sh"]


# The command-line helper.
def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    vfs_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_options_configure_and_install(tree: Path) -> None:
    handlers = HandlerSet()
    assert vfs_cli.configure(parse(), handlers) is None
    assert len(handlers) == 0
    args = parse("--bind", f"{VIRT}={tree}", "--hide", f"{VIRT}/private", "--readonly", VIRT)
    vfs = vfs_cli.configure(args, handlers)
    assert vfs is not None and len(handlers) > 0
    assert vfs.paths.binds == {VIRT: str(tree)}
    assert vfs.paths.hidden_paths == {f"{VIRT}/private"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bind", "/x=/no/such/host/path"], "--bind /x=/no/such/host/path: /no/such/host/path"),
        (["--bind", "=/tmp"], "--bind =/tmp: expected VIRT=HOST or PATH"),
        (["--root", "/no/such/root"], "--root /no/such/root: no such directory"),
        (["--root", "/", "--hide", "relative"], "--hide relative: must be an absolute path"),
        (["--cwd", "/no/such/dir"], "--cwd /no/such/dir: no such directory"),
    ],
)
def test_cli_errors_are_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        vfs_cli.configure(parse(*argv), HandlerSet())
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def sysemu_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sysemu", *argv]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)


def test_cli_file_option_runs_end_to_end(tmp_path: Path) -> None:
    content = tmp_path / "motd"
    content.write_text("virtual motd\n")
    option = ["run", "--file", f"/etc/vfs-test-motd={content}", "--"]
    shown = sysemu_cli(*option, "cat", "/etc/vfs-test-motd")
    assert (shown.returncode, shown.stdout) == (0, "virtual motd\n")
    written = sysemu_cli(*option, "sh", "-c", "echo x > /etc/vfs-test-motd")
    assert written.returncode != 0 and "Read-only file system" in written.stderr
    script = tmp_path / "script.sh"
    script.write_text('echo "a virtual script: $0"\n')
    ran = sysemu_cli("run", "--file", f"/opt/vfs-test.sh={script}", "--", "sh", "/opt/vfs-test.sh")
    assert (ran.returncode, ran.stdout) == (0, "a virtual script: /opt/vfs-test.sh\n")
    script.write_text('#!/bin/sh\necho "run directly: $0"\n')
    script.chmod(0o755)  # the virtual file keeps the read and execute bits
    ran = sysemu_cli("run", "--file", f"/opt/vfs-test.sh={script}", "--", "/bin/sh", "-c",
                     "/opt/vfs-test.sh")  # fmt: skip
    # Its $0 is the path the program named, not the private file's (see _script_exec).
    assert (ran.returncode, ran.stdout) == (0, "run directly: /opt/vfs-test.sh\n")
    missing = sysemu_cli("run", "--file", "/etc/x=/no/such/file", "--", "true")
    assert missing.returncode != 0
    assert "--file /etc/x=/no/such/file: /no/such/file is not a file" in missing.stderr


def test_cli_bare_bind_and_relative_paths(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    vfs = vfs_cli.configure(parse("--bind", "/usr", "--hide", "secret.txt"), HandlerSet())
    assert vfs is not None
    assert vfs.paths.binds == {"/usr": "/usr"}
    assert vfs.paths.hidden_paths == {str(tree / "secret.txt")}


# Against proot, where it is installed and runs.
@functools.cache
def proot_unusable() -> str | None:
    """Why proot cannot be compared with on this machine, or None where `proot true` runs.

    Asked once per session. Debian bookworm's arm64 proot (5.1.0) exits 1 even for
    `proot true` in the emulated arm64 machine, after "proot warning: signal 11 received from
    process ...": the reason a skip gives is proot's own last line.
    """
    if shutil.which("proot") is None:
        return "proot is not installed"
    try:
        done = subprocess.run(
            ["proot", "true"], capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        return "`proot true` did not end in 60 s here"
    if done.returncode == 0:
        return None
    lines = (done.stderr.strip() or done.stdout.strip() or "(no output)").splitlines()
    return f"`proot true` fails here (exit {done.returncode}): {lines[-1].strip()}"


def need_proot() -> None:
    reason = proot_unusable()
    if reason is not None:
        pytest.skip(reason)


def test_same_listing_as_proot(tree: Path) -> None:
    need_proot()
    proot = subprocess.run(
        ["proot", "-b", f"{tree}:{VIRT}", "find", VIRT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    code, out, _, _ = run(VirtualFS().bind(VIRT, str(tree)), ["find", VIRT])
    assert (code, sorted(out.splitlines())) == (proot.returncode, sorted(proot.stdout.splitlines()))
