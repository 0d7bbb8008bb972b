"""The structured forms of the decoders of :mod:`.decoders_more` and its neighbours (as
:mod:`sysemu.tools.trace.values` describes the forms): numbers, ids and values stored at an
address as numbers; constants and flag words as ``{"raw": ..., "name": ...}``; structures and
arrays as their text parsed into objects and lists (:func:`parsed`)."""

from __future__ import annotations

import struct
from collections.abc import Callable

from sysemu.tools.trace import (
    decoders_arrays,
    decoders_layouts,
    decoders_more,
    decoders_msghdr,
    decoders_quota,
    decoders_records,
    decoders_select,
    decoders_sockopt,
)
from sysemu.tools.trace.context import STRUCTURED, Context, Decoder, StructuredDecoder
from sysemu.tools.trace.decoders_layouts import dec_file_mode, dec_makedev, dec_signed64
from sysemu.tools.trace.decoders_more import (
    dec_id,
    dec_id_out,
    dec_int_in,
    dec_key_serial,
    dec_offset_in,
    dec_time_out,
    dec_uint_out,
)
from sysemu.tools.trace.parsing import parsed
from sysemu.tools.trace.xlat_more import KEY_SPECS


def _id(value: int) -> int:
    value &= 0xFFFFFFFF
    return -1 if value == 0xFFFFFFFF else value


def _stored(layout: struct.Struct, form: Callable[[int], object] = int) -> StructuredDecoder:
    """A value at the address, in a one-element array as strace shows it; the address when
    it cannot be read."""

    def decode(ctx: Context, value: int, _index: int) -> object:
        fields = ctx.unpack(value, layout)
        return value if fields is None else [form(fields[0])]

    return decode


def _makedev(_ctx: Context, value: int, _index: int) -> object:
    value &= 0xFFFFFFFFFFFFFFFF
    major = ((value >> 8) & 0xFFF) | ((value >> 32) & ~0xFFF)
    minor = (value & 0xFF) | ((value >> 12) & ~0xFF & 0xFFFFFFFF)
    return {"major": major, "minor": minor}


MORE: dict[Decoder, StructuredDecoder] = {
    dec_id: lambda _ctx, value, _index: _id(value),
    dec_id_out: _stored(struct.Struct("<I"), _id),
    dec_uint_out: _stored(struct.Struct("<I")),
    dec_int_in: _stored(struct.Struct("<i")),
    dec_offset_in: _stored(struct.Struct("<q")),
    dec_time_out: _stored(struct.Struct("<q")),
    dec_signed64: lambda _ctx, value, _index: value - ((value >> 63 & 1) << 64),
    dec_key_serial: lambda _ctx, value, _index: {"raw": value, "name": KEY_SPECS.get(value)},
    dec_makedev: _makedev,
    dec_file_mode: lambda _ctx, value, _index: value & 0xFFFF,
}
"""The structured form of each of those decoders (in
:data:`~sysemu.tools.trace.context.STRUCTURED` too)."""


def _parsed_form(decoder: Decoder) -> StructuredDecoder:
    """The structured form of ``decoder``: its text, parsed (see :func:`parsed`)."""

    def form(ctx: Context, value: int, index: int) -> object:
        return parsed(decoder(ctx, value, index))

    return form


_PARSED = (
    decoders_arrays.dec_futex_waiters, decoders_arrays.dec_iovec_addresses,
    decoders_arrays.dec_iovec_in, decoders_arrays.dec_iovec_out,
    decoders_arrays.dec_kexec_segments, decoders_arrays.dec_nodes_in,
    decoders_arrays.dec_offset_updated, decoders_arrays.dec_page_addresses,
    decoders_arrays.dec_page_status_out, decoders_arrays.dec_sembufs,
    decoders_layouts.dec_epoll_slot, decoders_layouts.dec_landlock_rule,
    decoders_layouts.dec_landlock_ruleset, decoders_layouts.dec_sched_attr,
    decoders_layouts.dec_sched_attr_in, decoders_layouts.dec_sigevent,
    decoders_layouts.dec_siginfo_in, decoders_layouts.dec_siginfo_out,
    decoders_layouts.dec_sysctl_args, decoders_layouts.dec_user_desc,
    decoders_more.dec_buffer_sized_before, decoders_more.dec_epoll_event,
    decoders_more.dec_itimerspec, decoders_more.dec_itimerval, decoders_more.dec_mincore_vec,
    decoders_more.dec_seccomp_args, decoders_more.dec_sized_out, decoders_more.dec_timeval,
    decoders_more.dec_timezone, decoders_msghdr.dec_mmsghdrs_in,
    decoders_msghdr.dec_mmsghdrs_out, decoders_msghdr.dec_msghdr_in,
    decoders_msghdr.dec_msghdr_out, decoders_records.dec_memfd_name,
    decoders_records.dec_mempolicy_out, decoders_records.dec_mount_data,
    decoders_records.dec_mount_type, decoders_records.dec_mq_attr,
    decoders_records.dec_node_mask_in, decoders_records.dec_node_mask_out,
    decoders_records.dec_open_how, decoders_records.dec_sigset_any,
    decoders_records.dec_sigset_next, decoders_records.dec_statfs,
    decoders_records.dec_timespec_pair, decoders_records.dec_timeval_pair,
    decoders_records.dec_timex, decoders_records.dec_utimbuf,
    decoders_records.dec_xattr_value, decoders_select.dec_fd_set,
    decoders_select.dec_sigmask_arg, decoders_select.dec_timeval,
    decoders_sockopt.dec_sockopt_in, decoders_sockopt.dec_sockopt_length,
    decoders_sockopt.dec_sockopt_out,
)  # fmt: skip
"""Decoders of structures, arrays and strings: their form is their text, parsed."""

_NAMED = (
    decoders_layouts._fd_in_register, decoders_layouts.dec_fanotify_init_flags,
    decoders_layouts.dec_ioprio, decoders_layouts.dec_log_level,
    decoders_layouts.dec_memfd_flags, decoders_layouts.dec_mount_flags,
    decoders_layouts.dec_quota_command, decoders_layouts.dec_swap_flags,
    decoders_layouts.dec_syslog_action, decoders_more.dec_fanotify_dirfd,
    decoders_more.dec_kexec_flags, decoders_more.dec_seccomp_flags, decoders_quota._id,
    decoders_records.dec_mempolicy_mode, decoders_sockopt.dec_socket_level,
    decoders_sockopt.dec_socket_option,
)  # fmt: skip
"""Decoders of a value in a register: ``{"raw": value, "name": text}``, as constants are."""


def _named_form(decoder: Decoder) -> StructuredDecoder:
    def form(ctx: Context, value: int, index: int) -> object:
        return {"raw": value, "name": decoder(ctx, value, index)}

    return form


MORE.update({decoder: _parsed_form(decoder) for decoder in _PARSED})
MORE.update({decoder: _named_form(decoder) for decoder in _NAMED})
STRUCTURED.update(MORE)
