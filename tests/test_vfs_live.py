"""Live files: real programs reading and writing files whose every call Python answers.

Every run is bounded (``timeout=``) and its output captured.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest

from sysemu import Emulator
from sysemu.tools.vfs import VirtualFS
from sysemu.tools.vfs.live import LiveFile

from .conftest import Programs


class RamFile(LiveFile):
    """A file kept in a bytearray, which logs every call made of it."""

    def __init__(self, content: bytes = b"") -> None:
        self.content = bytearray(content)
        self.calls: list[tuple[str, int, int]] = []

    def read(self, offset: int, size: int) -> bytes:
        self.calls.append(("read", offset, size))
        return bytes(self.content[offset : offset + size])

    def write(self, offset: int, data: bytes) -> int:
        self.calls.append(("write", offset, len(data)))
        if offset > len(self.content):
            self.content.extend(bytes(offset - len(self.content)))
        self.content[offset : offset + len(data)] = data
        return len(data)

    def size(self) -> int:
        return len(self.content)

    def truncate(self, length: int) -> None:
        del self.content[length:]
        self.content.extend(bytes(length - len(self.content)))


class Sensor(LiveFile):
    """A read-only file that answers each read with a new reading."""

    def __init__(self) -> None:
        self.readings = 0

    def read(self, offset: int, size: int) -> bytes:
        self.readings += 1
        return f"reading {self.readings} at {offset}\n".encode()[:size]


class Log(LiveFile):
    """A write-only file whose writes go to a list."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, bytes]] = []

    def write(self, offset: int, data: bytes) -> int:
        self.lines.append((offset, data))
        return len(data)

    def size(self) -> int:
        return sum(len(data) for _, data in self.lines)


def run(vfs: VirtualFS, argv: list[str], backend: str | None = None) -> tuple[int, str, str]:
    emu = Emulator(backend=backend)
    vfs.install(emu.handlers)
    result = emu.run(argv, capture_output=True, timeout=60)
    assert result.stdout is not None and result.stderr is not None
    return result.exit_code, result.stdout.decode(), result.stderr.decode()


def test_each_read_of_one_descriptor_gets_fresh_data() -> None:
    sensor = Sensor()
    vfs = VirtualFS().add_file("/vfs-test-sensor", sensor)
    script = (
        "import os\n"
        "fd = os.open('/vfs-test-sensor', os.O_RDONLY)\n"
        "print(os.read(fd, 100), os.read(fd, 100))\n"
        "print(os.pread(fd, 9, 1000), os.lseek(fd, 0, os.SEEK_CUR))\n"
        "try:\n"
        "    os.write(fd, b'x')\n"
        "except OSError as error:\n"
        "    print(errno.errorcode[error.errno])\n"
        "for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_DIRECTORY):\n"
        "    try:\n"
        "        os.open('/vfs-test-sensor', flags)\n"
        "    except OSError as error:\n"
        "        print(errno.errorcode[error.errno])\n"
    )
    code, out, err = run(vfs, [sys.executable, "-c", "import errno\n" + script])
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "b'reading 1 at 0\\n' b'reading 2 at 15\\n'",
        "b'reading 3' 31",
        "EBADF",
        "EACCES",
        "EACCES",
        "ENOTDIR",
    ]
    assert sensor.readings == 3


def test_writes_reach_a_callback_through_redirections() -> None:
    log = Log()
    vfs = VirtualFS().add_file("/vfs-test-log", log)
    # The shell opens the file and moves it to fd 1 before echo (a builtin) and printf (a
    # program it forks and execs) write.
    script = "echo one >/vfs-test-log; echo two >>/vfs-test-log; /usr/bin/printf 3 >>/vfs-test-log"
    code, out, err = run(vfs, ["sh", "-c", script])
    assert (code, out, err) == (0, "", "")
    # O_APPEND writes go to the end (the size the object reports); O_TRUNC keeps nothing here.
    assert log.lines == [(0, b"one\n"), (4, b"two\n"), (8, b"3")]
    code, out, err = run(vfs, ["sh", "-c", "cat /vfs-test-log"])
    assert code == 1 and "Permission denied" in err


def test_every_way_of_reading_and_writing_in_64_and_32_bit_programs(
    programs: Programs,
) -> None:
    for probe in (programs.vfs_probe, programs.m32("vfs_probe")):
        ram = RamFile(b"0123456789" * 12)
        vfs = VirtualFS().add_file("/vfs-test-ram", ram)
        code, out, err = run(vfs, [probe, "io", "/vfs-test-ram"])
        assert (code, err) == (0, ""), out
        assert out.splitlines() == [
            "read 6 012345",
            "pread 4 0123",
            "readv 7 678|9012",
            "lseek64 118",
            "lseek 119",
            "fstat 120 1 1",  # the size the object reports; the inode of the file at the path
            "raw fstat 120",
            "write 3",
            "pwrite 2",
            "writev 5",
            "mmap ENODEV",
        ], probe
        expected = bytearray(b"0123456789" * 12)
        expected[119:122] = b"abc"  # at the position lseek left
        expected[40:42] = b"xy"
        expected[122:127] = b"12345"
        assert ram.content == expected


def test_descriptors_are_shared_inherited_and_closed_on_exec() -> None:
    ram = RamFile(b"abcdefghijklmnopqrstuvwxyz")
    vfs = VirtualFS().add_file("/vfs-test-abc", ram)
    script = (
        "import os, subprocess, sys\n"
        "fd = os.open('/vfs-test-abc', os.O_RDONLY)\n"
        "copy = os.dup(fd)\n"
        "print(os.read(fd, 3), os.read(copy, 3))\n"  # one description: one position
        "if os.fork() == 0:\n"
        "    print(os.read(fd, 2), flush=True); os._exit(0)\n"
        "os.wait()\n"
        "print(os.read(copy, 2))\n"  # moved on by the child
        "os.set_inheritable(copy, True)\n"
        "other = os.open('/vfs-test-abc', os.O_RDONLY | os.O_CLOEXEC)\n"
        "print(os.read(other, 1))\n"  # a second open: its own position
        "probe = 'import os, sys; print([os.read(int(n), 2) "
        'if os.path.exists(f"/proc/self/fd/{n}") else None for n in sys.argv[1:]])\'\n'
        "subprocess.run([sys.executable, '-c', probe, str(copy), str(other)], close_fds=False)\n"
        "print(os.read(0, 5))\n"
    )
    # -u: with its output a pipe, the forked child would flush the parent's buffered first line
    # (printed twice) and the probe's line would come before the parent's (host shells often
    # set PYTHONUNBUFFERED, which hid this; the test machines do not).
    command = f'{sys.executable} -u -c "$0" < /vfs-test-abc'
    code, out, err = run(vfs, ["sh", "-c", command, script])
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "b'abc' b'def'",
        "b'gh'",
        "b'ij'",
        "b'a'",
        "[b'kl', None]",  # inherited across exec, and closed on exec
        "b'abcde'",  # stdin is the shell's own open of the file
    ]


def test_cp_and_shutil_copy_a_live_file(tmp_path: Path) -> None:
    ram = RamFile(b"copied through read and write\n" * 1000)
    vfs = VirtualFS().add_file("/vfs-test-doc", ram)
    copy, copy2 = tmp_path / "cp.txt", tmp_path / "shutil.txt"
    script = f"cp /vfs-test-doc {copy} && {sys.executable} -c " + (
        f"\"import shutil; shutil.copyfile('/vfs-test-doc', '{copy2}')\" && ls -l /vfs-test-doc"
    )
    code, out, err = run(vfs, ["sh", "-c", script])
    assert (code, err) == (0, "")
    assert copy.read_bytes() == copy2.read_bytes() == bytes(ram.content)
    assert out.split()[4] == str(len(ram.content))  # stat by path shows the object's size


def test_errors_from_the_object_reach_the_program() -> None:
    class Broken(LiveFile):
        def read(self, offset: int, size: int) -> bytes:
            raise OSError(errno.EIO, "sensor unplugged")

        def write(self, offset: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "full")

    vfs = VirtualFS().add_file("/vfs-test-broken", Broken())
    code, out, err = run(vfs, ["sh", "-c", "cat /vfs-test-broken; /bin/echo x > /vfs-test-broken"])
    assert code != 0 and out == ""
    assert "Input/output error" in err and "No space left on device" in err


def test_a_live_file_refuses_a_mode_and_needs_a_method() -> None:
    with pytest.raises(ValueError, match="mode comes from its methods"):
        VirtualFS().add_file("/x", Sensor(), mode=0o444)
    with pytest.raises(ValueError, match="neither read nor write"):
        VirtualFS().add_file("/x", LiveFile())


@pytest.mark.parametrize("backend", ["ptrace", "sysemu"])
def test_live_files_on_the_other_ptrace_backends(backend: str) -> None:
    sensor, log = Sensor(), Log()
    vfs = VirtualFS().add_file("/vfs-test-sensor", sensor).add_file("/vfs-test-log", log)
    script = "head -c 100 /vfs-test-sensor; echo logged > /vfs-test-log"
    code, out, err = run(vfs, ["sh", "-c", script], backend=backend)
    assert (code, err) == (0, "")
    assert out.startswith("reading 1 at 0\nreading 2 at 15\n") and len(out) == 100
    assert log.lines == [(0, b"logged\n")]


def test_a_directory_made_of_a_dict() -> None:
    sensor = Sensor()
    tree = {
        "app.conf": "name = demo\n",
        "conf.d": {"10-extra.conf": b"extra = 1\n", "empty": {}},
        "sensor": sensor,
        "generated": lambda call: f"opened by {call.pid}\n",
    }
    vfs = VirtualFS().add("/vfs-test-etc", tree)
    script = (
        "cd /vfs-test-etc && ls -p . conf.d && cat app.conf conf.d/10-extra.conf && "
        "head -c 15 sensor && grep -c 'opened by' generated && ls -l sensor | cut -c1-10 && "
        "touch new 2>&1; rm app.conf 2>&1; true"
    )
    code, out, err = run(vfs, ["sh", "-c", script])
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        ".:",
        "app.conf",
        "conf.d/",
        "generated",
        "sensor",
        "",
        "conf.d:",
        "10-extra.conf",
        "empty/",
        "name = demo",
        "extra = 1",
        "reading 1 at 0",
        "1",
        "-r--r--r--",
        "touch: cannot touch 'new': Read-only file system",
        "rm: cannot remove 'app.conf': Read-only file system",
    ]
    with pytest.raises(ValueError, match="is not a file name"):
        VirtualFS().add("/x", {"a/b": b""})
