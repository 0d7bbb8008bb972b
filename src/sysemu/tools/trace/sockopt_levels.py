"""Socket options of the levels other than ``SOL_SOCKET`` that strace names (``SOL_IP``,
``SOL_IPV6``, ``SOL_PACKET``, ``SOL_RAW``; ``linux/in.h``, ``linux/in6.h``,
``linux/if_packet.h``, ``linux/icmp.h``) and the values ``setsockopt`` passes for the group
memberships, packet rings and ICMP filters, each of one exact size.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable

from sysemu.tools.trace import render
from sysemu.tools.trace.decoders_structs import sockaddr

SOL_IP, SOL_IPV6, SOL_RAW, SOL_PACKET = 0, 41, 255, 263

_IP_OPTIONS: dict[int, str | None] = {
    1: "IP_TOS", 2: "IP_TTL", 3: "IP_HDRINCL", 4: "IP_OPTIONS", 5: "IP_ROUTER_ALERT",
    6: "IP_RECVOPTS", 7: "IP_RETOPTS", 8: "IP_PKTINFO", 9: "IP_PKTOPTIONS",
    10: "IP_MTU_DISCOVER", 11: "IP_RECVERR", 12: "IP_RECVTTL", 13: "IP_RECVTOS", 14: "IP_MTU",
    15: "IP_FREEBIND", 16: "IP_IPSEC_POLICY", 17: "IP_XFRM_POLICY", 18: "IP_PASSSEC",
    19: "IP_TRANSPARENT", 20: "IP_ORIGDSTADDR", 21: "IP_MINTTL", 22: "IP_NODEFRAG",
    23: "IP_CHECKSUM", 24: "IP_BIND_ADDRESS_NO_PORT", 25: "IP_RECVFRAGSIZE",
    26: "IP_RECVERR_RFC4884", 32: "IP_MULTICAST_IF", 33: "IP_MULTICAST_TTL",
    34: "IP_MULTICAST_LOOP", 35: "IP_ADD_MEMBERSHIP", 36: "IP_DROP_MEMBERSHIP",
    37: "IP_UNBLOCK_SOURCE", 38: "IP_BLOCK_SOURCE", 39: "IP_ADD_SOURCE_MEMBERSHIP",
    40: "IP_DROP_SOURCE_MEMBERSHIP", 41: "IP_MSFILTER", 42: "MCAST_JOIN_GROUP",
    43: "MCAST_BLOCK_SOURCE", 44: "MCAST_UNBLOCK_SOURCE", 45: "MCAST_LEAVE_GROUP",
    46: "MCAST_JOIN_SOURCE_GROUP", 47: "MCAST_LEAVE_SOURCE_GROUP", 48: "MCAST_MSFILTER",
    49: "IP_MULTICAST_ALL", 50: "IP_UNICAST_IF",
}  # fmt: skip
_IPV6_OPTIONS: dict[int, str | None] = {
    1: "IPV6_ADDRFORM", 2: "IPV6_2292PKTINFO", 3: "IPV6_2292HOPOPTS", 4: "IPV6_2292DSTOPTS",
    5: "IPV6_2292RTHDR", 6: "IPV6_2292PKTOPTIONS", 7: "IPV6_CHECKSUM", 8: "IPV6_2292HOPLIMIT",
    9: "IPV6_NEXTHOP", 10: "IPV6_AUTHHDR", 16: "IPV6_UNICAST_HOPS", 17: "IPV6_MULTICAST_IF",
    18: "IPV6_MULTICAST_HOPS", 19: "IPV6_MULTICAST_LOOP", 20: "IPV6_ADD_MEMBERSHIP",
    21: "IPV6_DROP_MEMBERSHIP", 22: "IPV6_ROUTER_ALERT", 23: "IPV6_MTU_DISCOVER",
    24: "IPV6_MTU", 25: "IPV6_RECVERR", 26: "IPV6_V6ONLY", 27: "IPV6_JOIN_ANYCAST",
    28: "IPV6_LEAVE_ANYCAST", 42: "MCAST_JOIN_GROUP", 45: "MCAST_LEAVE_GROUP",
}  # fmt: skip
_PACKET_OPTIONS: dict[int, str | None] = dict(enumerate((
    None, "PACKET_ADD_MEMBERSHIP", "PACKET_DROP_MEMBERSHIP", "PACKET_RECV_OUTPUT", None,
    "PACKET_RX_RING", "PACKET_STATISTICS", "PACKET_COPY_THRESH", "PACKET_AUXDATA",
    "PACKET_ORIGDEV", "PACKET_VERSION", "PACKET_HDRLEN", "PACKET_RESERVE", "PACKET_TX_RING",
    "PACKET_LOSS", "PACKET_VNET_HDR", "PACKET_TX_TIMESTAMP", "PACKET_TIMESTAMP",
    "PACKET_FANOUT", "PACKET_TX_HAS_OFF", "PACKET_QDISC_BYPASS", "PACKET_ROLLOVER_STATS",
    "PACKET_FANOUT_DATA", "PACKET_IGNORE_OUTGOING", "PACKET_VNET_HDR_SZ",
)))  # fmt: skip
_RAW_OPTIONS: dict[int, str | None] = {1: "ICMP_FILTER"}
LEVEL_OPTIONS: dict[int, tuple[dict[int, str | None], str]] = {
    SOL_IP: (_IP_OPTIONS, "IP_???"),
    SOL_IPV6: (_IPV6_OPTIONS, "IPV6_???"),
    SOL_PACKET: (_PACKET_OPTIONS, "PACKET_???"),
    SOL_RAW: (_RAW_OPTIONS, "ICMP_???"),
}
"""Each level's option names, and the comment for an unknown one."""

_PACKET_MR_TYPES = {0: "PACKET_MR_MULTICAST", 1: "PACKET_MR_PROMISC", 2: "PACKET_MR_ALLMULTI",
                    3: "PACKET_MR_UNICAST"}  # fmt: skip
_ICMP_TYPES = {0: "ICMP_ECHOREPLY", 3: "ICMP_DEST_UNREACH", 4: "ICMP_SOURCE_QUENCH",
               5: "ICMP_REDIRECT", 8: "ICMP_ECHO", 11: "ICMP_TIME_EXCEEDED",
               12: "ICMP_PARAMETERPROB", 13: "ICMP_TIMESTAMP", 14: "ICMP_TIMESTAMPREPLY",
               15: "ICMP_INFO_REQUEST", 16: "ICMP_INFO_REPLY", 17: "ICMP_ADDRESS",
               18: "ICMP_ADDRESSREPLY"}  # fmt: skip


def option_name(level: int, option: int) -> str:
    """The name of ``option`` at ``level`` (hex with a comment when unknown)."""
    names, unknown = LEVEL_OPTIONS[level]
    name = names.get(option)
    return name if name else render.xval(option, {}, unknown)


def _interface(index: int) -> str:
    import socket  # noqa: PLC0415  (only traces of these options need it)

    try:
        return f'if_nametoindex("{socket.if_indextoname(index)}")'
    except OSError:
        return str(index)


def _inet(data: bytes) -> str:
    return f'inet_addr("{ipaddress.IPv4Address(data)}")'


def _ip_mreq(data: bytes) -> str:
    return f"{{imr_multiaddr={_inet(data[:4])}, imr_interface={_inet(data[4:8])}}}"


def _ipv6_mreq(data: bytes) -> str:
    address = ipaddress.IPv6Address(data[:16])
    index = int.from_bytes(data[16:20], "little")
    return (f'{{inet_pton(AF_INET6, "{address}", &ipv6mr_multiaddr), '
            f"ipv6mr_interface={_interface(index)}}}")  # fmt: skip


def _group_req(data: bytes) -> str:
    index = int.from_bytes(data[:4], "little")
    return f"{{gr_interface={_interface(index)}, gr_group={sockaddr(data[8:])}}}"


def _packet_mreq(data: bytes) -> str:
    index, kind, length = struct.unpack_from("<iHH", data)
    address = ":".join(f"{byte:02x}" for byte in data[8 : 8 + min(length, 8)])
    kind_text = render.xval(kind, _PACKET_MR_TYPES, "PACKET_MR_???")
    return (f"{{mr_ifindex={index}, mr_type={kind_text}, mr_alen={length}, "
            f"mr_address={address}}}")  # fmt: skip


def _tpacket_req(data: bytes) -> str:
    block_size, blocks, frame_size, frames = struct.unpack_from("<IIII", data)
    return (f"{{tp_block_size={block_size}, tp_block_nr={blocks}, tp_frame_size={frame_size}, "
            f"tp_frame_nr={frames}}}")  # fmt: skip


def _icmp_filter(data: bytes) -> str:
    mask = int.from_bytes(data[:4], "little")
    inverted = bin(mask).count("1") > 16
    shown = ~mask & 0xFFFFFFFF if inverted else mask
    names = [_ICMP_TYPES.get(bit, str(bit)) for bit in range(32) if shown >> bit & 1]
    return ("~" if inverted else "") + "[" + " ".join(names) + "]"


# (level, option) -> (the size read, the least length shown decoded, the most, the text of
# the bytes): setsockopt's values these levels' decoders show.
SET_VALUES: dict[tuple[int, int], tuple[int, int, int, Callable[[bytes], str]]] = {
    (SOL_IP, 35): (8, 8, 1 << 31, _ip_mreq),  # IP_ADD_MEMBERSHIP
    (SOL_IP, 36): (8, 8, 1 << 31, _ip_mreq),  # IP_DROP_MEMBERSHIP
    (SOL_IP, 42): (136, 136, 1 << 31, _group_req),  # MCAST_JOIN_GROUP
    (SOL_IP, 45): (136, 136, 1 << 31, _group_req),  # MCAST_LEAVE_GROUP
    (SOL_IPV6, 20): (20, 20, 1 << 31, _ipv6_mreq),  # IPV6_ADD_MEMBERSHIP
    (SOL_IPV6, 21): (20, 20, 1 << 31, _ipv6_mreq),  # IPV6_DROP_MEMBERSHIP
    (SOL_IPV6, 27): (20, 20, 1 << 31, _ipv6_mreq),  # IPV6_JOIN_ANYCAST
    (SOL_IPV6, 28): (20, 20, 1 << 31, _ipv6_mreq),  # IPV6_LEAVE_ANYCAST
    (SOL_IPV6, 42): (136, 136, 1 << 31, _group_req),
    (SOL_IPV6, 45): (136, 136, 1 << 31, _group_req),
    (SOL_PACKET, 1): (16, 16, 16, _packet_mreq),  # PACKET_ADD_MEMBERSHIP
    (SOL_PACKET, 2): (16, 16, 16, _packet_mreq),  # PACKET_DROP_MEMBERSHIP
    (SOL_PACKET, 5): (16, 16, 16, _tpacket_req),  # PACKET_RX_RING
    (SOL_PACKET, 13): (16, 16, 16, _tpacket_req),  # PACKET_TX_RING
    (SOL_RAW, 1): (4, 4, 1 << 31, _icmp_filter),  # ICMP_FILTER
}
