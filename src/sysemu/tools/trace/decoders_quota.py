"""``quotactl``: which arguments each command takes (``linux/quota.h``, ``linux/dqblk_xfs.h``)
and the structures it passes in (``if_dqblk``, ``if_dqinfo``, ``fs_disk_quota``, the XFS
quota flags).
"""

from __future__ import annotations

import struct

from sysemu.api.call import Call
from sysemu.tools.trace import render
from sysemu.tools.trace.context import ENTRY, Context, Decoder, Shown
from sysemu.tools.trace.decoders_layouts import dec_quota_command
from sysemu.tools.trace.decoders_scalar import dec_path, dec_pointer, enum_of
from sysemu.tools.trace.xlat import Flags

_QUOTA_FORMATS = {1: "QFMT_VFS_OLD", 2: "QFMT_VFS_V0", 3: "QFMT_OCFS2", 4: "QFMT_VFS_V1"}
_XFS_STATE_FLAGS: Flags = tuple((1 << bit, "FS_QUOTA_" + name) for bit, name in enumerate((
    "UDQ_ACCT", "UDQ_ENFD", "GDQ_ACCT", "GDQ_ENFD", "PDQ_ACCT", "PDQ_ENFD")))  # fmt: skip
_XFS_TYPES: Flags = ((1, "FS_USER_QUOTA"), (2, "FS_PROJ_QUOTA"), (4, "FS_GROUP_QUOTA"))
_DQF_FLAGS: Flags = ((1, "DQF_ROOT_SQUASH"), (0x10000, "DQF_SYS_FILE"))
_IIF_FLAGS: Flags = ((1, "IIF_BGRACE"), (2, "IIF_IGRACE"), (4, "IIF_FLAGS"))
_DQBLK = struct.Struct("<6Q")  # the fields shown (then "...")
_DQINFO = struct.Struct("<QQII")
_DISK_QUOTA = struct.Struct("<bBHI6Q")
_UINT = struct.Struct("<I")


def _id(_ctx: Context, value: int, _index: int) -> str:
    value &= 0xFFFFFFFF
    return "-1" if value == 0xFFFFFFFF else str(value)


def _flags_word(table: Flags) -> Decoder:
    def decode(ctx: Context, value: int, _index: int) -> str:
        fields = ctx.unpack(value, _UINT)
        if fields is None:
            return render.pointer(value)
        return f"[{render.flags(fields[0], table)}]"

    decode.__doc__ = "A word of flags passed by address: ``[A|B]``."
    return decode


def dec_dqblk(ctx: Context, value: int, _index: int) -> str:
    """``{dqb_bhardlimit=..., ..., dqb_curinodes=..., ...}``: the limits ``Q_SETQUOTA`` sets."""
    fields = ctx.unpack(value, _DQBLK)
    if fields is None:
        return render.pointer(value)
    names = ("dqb_bhardlimit", "dqb_bsoftlimit", "dqb_curspace", "dqb_ihardlimit",
             "dqb_isoftlimit", "dqb_curinodes")  # fmt: skip
    return "{" + ", ".join(f"{n}={v}" for n, v in zip(names, fields, strict=True)) + ", ...}"


def dec_dqinfo(ctx: Context, value: int, _index: int) -> str:
    """``{dqi_bgrace=..., dqi_igrace=..., dqi_flags=..., dqi_valid=...}``: ``Q_SETINFO``'s."""
    fields = ctx.unpack(value, _DQINFO)
    if fields is None:
        return render.pointer(value)
    block_grace, inode_grace, flags, valid = fields
    return (f"{{dqi_bgrace={block_grace}, dqi_igrace={inode_grace}, "
            f"dqi_flags={render.flags(flags, _DQF_FLAGS)}, "
            f"dqi_valid={render.flags(valid, _IIF_FLAGS)}}}")  # fmt: skip


def dec_disk_quota(ctx: Context, value: int, _index: int) -> str:
    """``{d_version=1, d_flags=FS_USER_QUOTA, d_fieldmask=0x..., d_id=..., ..., ...}``: the
    limits ``Q_XSETQLIM`` sets."""
    fields = ctx.unpack(value, _DISK_QUOTA)
    if fields is None:
        return render.pointer(value)
    version, flags, mask, ident, *limits = fields
    names = ("d_blk_hardlimit", "d_blk_softlimit", "d_ino_hardlimit", "d_ino_softlimit",
             "d_bcount", "d_icount")  # fmt: skip
    shown = ", ".join(f"{n}={v}" for n, v in zip(names, limits, strict=True))
    return (f"{{d_version={version}, d_flags={render.flags(flags, _XFS_TYPES)}, "
            f"d_fieldmask={mask:#x}, d_id={ident}, {shown}, ...}}")  # fmt: skip


_COMMAND = Shown(0, dec_quota_command, ENTRY)
_SPECIAL = Shown(1, dec_path, ENTRY)
_ID = Shown(2, _id, ENTRY)
_ADDRESS = Shown(3, dec_pointer, ENTRY)
_BY_COMMAND: dict[int, tuple[Shown, ...]] = {
    0x800001: (_COMMAND, _SPECIAL),  # Q_SYNC
    0x800002: (
        _COMMAND,
        _SPECIAL,
        Shown(2, enum_of(_QUOTA_FORMATS, "QFMT_VFS_???"), ENTRY),
        Shown(3, dec_path, ENTRY),
    ),  # Q_QUOTAON
    0x800003: (_COMMAND, _SPECIAL),  # Q_QUOTAOFF
    0x800004: (_COMMAND, _SPECIAL, _ADDRESS),  # Q_GETFMT
    0x800005: (_COMMAND, _SPECIAL, _ADDRESS),  # Q_GETINFO
    0x800006: (_COMMAND, _SPECIAL, Shown(3, dec_dqinfo, ENTRY)),  # Q_SETINFO
    0x800007: (_COMMAND, _SPECIAL, _ID, _ADDRESS),  # Q_GETQUOTA
    0x800008: (_COMMAND, _SPECIAL, _ID, Shown(3, dec_dqblk, ENTRY)),  # Q_SETQUOTA
    0x800009: (_COMMAND, _SPECIAL, _ID, _ADDRESS),  # Q_GETNEXTQUOTA
    0x5801: (_COMMAND, _SPECIAL, Shown(3, _flags_word(_XFS_STATE_FLAGS), ENTRY)),  # XQUOTAON
    0x5802: (_COMMAND, _SPECIAL, Shown(3, _flags_word(_XFS_STATE_FLAGS), ENTRY)),  # XQUOTAOFF
    0x5803: (_COMMAND, _SPECIAL, _ID, _ADDRESS),  # Q_XGETQUOTA
    0x5804: (_COMMAND, _SPECIAL, _ID, Shown(3, dec_disk_quota, ENTRY)),  # Q_XSETQLIM
    0x5805: (_COMMAND, _SPECIAL, _ADDRESS),  # Q_XGETQSTAT
    0x5806: (_COMMAND, _SPECIAL, Shown(3, _flags_word(_XFS_TYPES), ENTRY)),  # Q_XQUOTARM
    0x5807: (_COMMAND, _SPECIAL),  # Q_XQUOTASYNC
    0x5808: (_COMMAND, _SPECIAL, _ADDRESS),  # Q_XGETQSTATV
    0x5809: (_COMMAND, _SPECIAL, _ID, _ADDRESS),  # Q_XGETNEXTQUOTA
}
_UNKNOWN = (_COMMAND, _SPECIAL, _ID, _ADDRESS)


def quotactl_shown(key: int) -> tuple[Shown, ...]:
    """``quotactl``'s arguments for the command in ``key`` (its QCMD without the type)."""
    return _BY_COMMAND.get(key >> 8, _UNKNOWN)


def layout_quotactl(call: Call) -> tuple[Shown, ...]:
    """See :func:`quotactl_shown`."""
    return quotactl_shown(call.args.value(0) & 0xFFFFFF00)
