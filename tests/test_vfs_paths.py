"""The virtual filesystem's pure parts: lexical path mapping and directory records."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sysemu.abi import Abi
from sysemu.tools.vfs.dirents import (
    DIRENT64,
    DIRENT_32BIT,
    DIRENT_64BIT,
    DirentLayout,
    drop_names,
    layout_for,
    names,
)
from sysemu.tools.vfs.paths import PathMap, ancestors, graft, is_under, join, normalize


def test_normalize_and_join() -> None:
    assert normalize("//a/./b/../c//") == "/a/c"
    assert normalize("/..") == "/"
    assert join("/a/b", "../c") == "/a/c"
    assert join("/a/b", "/x/../y") == "/y"
    assert list(ancestors("/a/b/c")) == ["/a/b/c", "/a/b", "/a", "/"]
    assert list(ancestors("/")) == ["/"]


def test_prefixes_match_whole_components() -> None:
    assert is_under("/data", "/data") and is_under("/data/x", "/data")
    assert not is_under("/database", "/data")
    assert is_under("/anything", "/")
    assert graft("/data/x", "/data", "/srv") == "/srv/x"
    assert graft("/data", "/data", "/") == "/"
    assert graft("/x", "/", "/root") == "/root/x"
    assert graft("/", "/", "/root") == "/root"


def test_binds_and_the_root() -> None:
    paths = PathMap()
    paths.bind("/data", "/srv/data")
    paths.bind("/data/cache", "/var/cache")
    assert paths.to_host("/data/x") == "/srv/data/x"
    assert paths.to_host("/data") == "/srv/data"
    assert paths.to_host("/database") == "/database"
    assert paths.to_host("/data/cache/y") == "/var/cache/y"  # the deepest bind wins
    assert paths.to_virtual("/srv/data/x") == "/data/x"
    assert paths.to_virtual("/var/cache") == "/data/cache"
    assert paths.to_virtual("/srv/data/cache/z") is None  # shadowed by the deeper bind
    assert paths.to_virtual("/etc") == "/etc"  # no root: the host's own names
    paths.set_root("/chroot")
    assert paths.to_host("/etc/passwd") == "/chroot/etc/passwd"
    assert paths.to_host("/") == "/chroot"
    assert paths.to_host("/data/x") == "/srv/data/x"  # binds take precedence
    assert paths.to_virtual("/chroot/etc") == "/etc"
    assert paths.to_virtual("/chroot") == "/"
    assert paths.to_virtual("/etc") is None  # outside the root


def test_hidden_and_readonly_in_both_name_spaces() -> None:
    paths = PathMap()
    paths.bind("/data", "/srv/data")
    paths.hide("/data/secret")
    paths.make_readonly("/data/ro")
    assert paths.hidden("/data/secret") and paths.hidden("/data/secret/x")
    assert not paths.hidden("/data/secrets") and not paths.hidden("/data")
    # The same file by its host name (through another bind, say) is hidden too.
    assert paths.hidden(None, "/srv/data/secret/y")
    assert paths.readonly("/data/ro/f") and paths.readonly(None, "/srv/data/ro")
    assert not paths.readonly("/data/rw")
    assert paths.hidden_names("/srv/data") == {"secret"}
    assert paths.hidden_names("/srv") == set()
    paths.add_readonly_host("/real/ro")
    assert paths.readonly(None, "/real/ro/z")


def test_virtual_paths_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="absolute"):
        PathMap().hide("relative")


_component = st.sampled_from(["a", "b", "data", "database", "x", "..", ".", ""])
_path = st.lists(_component, max_size=6).map(lambda parts: "/" + "/".join(parts))


@given(virtual=_path, bind_at=_path, root=st.booleans())
def test_to_virtual_undoes_to_host(virtual: str, bind_at: str, root: bool) -> None:
    paths = PathMap()
    paths.bind(bind_at, "/host/bound")
    if root:
        paths.set_root("/host/root")
    virtual = normalize(virtual)
    assert paths.to_virtual(paths.to_host(virtual)) == virtual


def record(layout: DirentLayout, name: bytes, offset: int) -> bytes:
    size = (layout.name_at + len(name) + 1 + 7) & ~7
    data = bytearray(size)
    struct.pack_into("<Q" if layout.off_size == 8 else "<I", data, 0, 1000 + offset)
    struct.pack_into("<q" if layout.off_size == 8 else "<i", data, layout.off_at, offset)
    struct.pack_into("<H", data, layout.reclen_at, size)
    data[layout.name_at : layout.name_at + len(name)] = name
    return bytes(data)


@pytest.mark.parametrize("layout", [DIRENT64, DIRENT_64BIT, DIRENT_32BIT])
def test_drop_names_keeps_the_rest_and_the_offsets(layout: DirentLayout) -> None:
    listing = [b".", b"a", b"s", b"b"]
    buffer = b"".join(record(layout, name, i + 1) for i, name in enumerate(listing))
    assert names(buffer, layout) == [b".", b"a", b"s", b"b"]
    assert drop_names(buffer, layout, frozenset({b"zz"})) is None  # nothing to drop
    kept = drop_names(buffer, layout, frozenset({b"s"}))
    assert kept is not None
    assert names(kept, layout) == [b".", b"a", b"b"]
    # "a" now points past "s", so seekdir(telldir()) after "a" does not bring "s" back.
    second = len(record(layout, b".", 1))
    fmt = "<q" if layout.off_size == 8 else "<i"
    assert struct.unpack_from(fmt, kept, second + layout.off_at)[0] == 3
    assert drop_names(buffer, layout, frozenset({b".", b"a", b"s", b"b"})) == b""


def test_malformed_buffers_are_left_alone() -> None:
    good = record(DIRENT64, b"a", 1)
    assert drop_names(good[:-3], DIRENT64, frozenset({b"a"})) is None
    broken = bytearray(good)
    struct.pack_into("<H", broken, DIRENT64.reclen_at, 0)
    assert drop_names(bytes(broken), DIRENT64, frozenset({b"a"})) is None


def test_layouts_per_call_and_abi() -> None:
    assert layout_for("getdents64", Abi.I386) is DIRENT64
    assert layout_for("getdents", Abi.I386) is DIRENT_32BIT
    assert layout_for("getdents", Abi.X86_64) is DIRENT_64BIT
    assert layout_for("getdents", Abi.X32) is DIRENT_64BIT


def test_identity_binds_are_listed_only_where_the_parent_is_not_the_hosts() -> None:
    bare = PathMap()
    bare.bind("/usr", "/usr")
    assert not bare.lists_binds and bare.bound_names("/") == {}
    rooted = PathMap()
    rooted.set_root("/srv/root")
    rooted.bind("/usr", "/usr")
    rooted.bind("/usr/lib", "/usr/lib")  # its parent is the host's /usr: listed there already
    assert rooted.lists_binds
    assert rooted.bound_names("/srv/root") == {"usr": "/usr"}
    assert rooted.bound_names("/usr") == {}


class _FakeAbi:
    def __init__(self, pointer_size: int) -> None:
        self.pointer_size = pointer_size


class _FakeCall:
    """Just what ``read_pointer_array`` reads: the ABI and the tracee's memory."""

    def __init__(self, pointer_size: int, memory: bytes) -> None:
        self.abi = _FakeAbi(pointer_size)
        self.memory = memory

    def read(self, address: int, size: int) -> bytes:
        return self.memory[address : address + size]

    def read_bytes_until_nul(self, address: int, limit: int = 4096) -> bytes:
        return self.memory[address : self.memory.index(b"\0", address)]


@pytest.mark.parametrize("pointer_size", [4, 8])
def test_argv_is_read_in_the_calls_pointer_size(pointer_size: int) -> None:
    from sysemu.tools.vfs.execs import read_pointer_array  # noqa: PLC0415

    word = "<I" if pointer_size == 4 else "<Q"
    table = b"".join(struct.pack(word, p) for p in (64, 67, 0))  # at 16; NULL ends it
    memory = (b"\xff" * 16 + table).ljust(64, b"\xff") + b"sh\0-c\0"
    call = _FakeCall(pointer_size, memory)
    assert read_pointer_array(call, 16) == [b"sh", b"-c"]  # type: ignore[arg-type]
    assert read_pointer_array(call, 0) == []  # type: ignore[arg-type]
