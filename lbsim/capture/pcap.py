"""Ethernet/IPv4/TCP frames and classic pcap files.

Theory of operation: a captured segment becomes one Ethernet II frame holding an
IPv4 packet (20-byte header, no options, DF set, TTL given by the caller, header
checksum) holding a TCP segment (20-byte header, plus the 8 option bytes MSS,
NOP, window scale on segments that carry the MSS option, exactly as the simulator
counts them; pseudo-header checksum). The IPv4 total length therefore equals the
simulated packet length (``Segment.ip_length``). Frames are not padded to the
60-byte Ethernet minimum, as captures taken on a sending host are not, and carry
no frame check sequence.

Headers are packed with :mod:`struct` rather than built as packet-library objects:
a run can produce millions of packets and building dpkt objects costs about 100 us
each, against a few microseconds here. Checksums use the identity that the
ones'-complement sum of 16-bit words equals their plain sum modulo 65535 (because
2**16 = 1 mod 65535; a non-zero sum that is a multiple of 65535 is 0xFFFF). So the
header words are added as integers, and the payload through its big-endian
integer value, which Python computes in C. The
library (dpkt) still writes the pcap file header and reads captures back
(:func:`read_pcap`, used by the tests, which also check every checksum against
dpkt's own).

Files are classic pcap with nanosecond timestamps (magic ``0xa1b23c4d``, link
type Ethernet), which Wireshark, tshark and tcpdump read; simulated times are
closer together than a microsecond on fast links, so microsecond stamps would
reorder packets. Each record header is written here so that seconds and
nanoseconds come from one integer rounding (never a 10**9 nanosecond field).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import dpkt

__all__ = [
    "ETHERNET_HEADER",
    "CapturedPacket",
    "PcapWriter",
    "checksum",
    "mac_for",
    "read_pcap",
    "tcp_frame",
]

#: Ethernet II header: destination, source, EtherType.
ETHERNET_HEADER = 14
#: Largest frame a capture keeps whole (jumbo frames included).
SNAPLEN = 262144
_ETHERTYPE_IPV4 = b"\x08\x00"
_IP_DF = 0x4000
_PROTO_TCP = 6

_IP = struct.Struct("!BBHHHBBHII")
_TCP = struct.Struct("!HHIIBBHHH")
_SYN_OPTIONS = struct.Struct("!BBHBBBB")
_RECORD = struct.Struct("<IIII")
_ADDR = struct.Struct("!I")


def mac_for(ip: int) -> bytes:
    """A stable, locally administered MAC address for an IPv4 address.

    ``02:00`` followed by the four address bytes, so ``10.0.1.2`` becomes
    ``02:00:0a:00:01:02`` and a student can read the host from the MAC.
    """
    return b"\x02\x00" + _ADDR.pack(ip)


def checksum(*parts: bytes) -> int:
    """The Internet checksum (RFC 1071) of the concatenation of ``parts``.

    Every part but the last must have an even length.
    """
    total = 0
    for part in parts:
        if len(part) & 1:
            part += b"\x00"
        total += int.from_bytes(part, "big") % 0xFFFF
    folded = total % 0xFFFF
    # The ones'-complement sum of non-zero data is 0xFFFF, never 0.
    if folded == 0 and any(any(p) for p in parts):
        folded = 0xFFFF
    return 0xFFFF - folded


def tcp_frame(
    src_mac: bytes,
    dst_mac: bytes,
    src: int,
    dst: int,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    payload: bytes,
    *,
    mss: int = 0,
    wscale: int = 0,
    ttl: int = 64,
    ip_id: int = 0,
) -> bytes:
    """One Ethernet frame carrying one TCP segment in IPv4.

    Args:
        src_mac: Ethernet source.
        dst_mac: Ethernet destination.
        src: IPv4 source address (integer).
        dst: IPv4 destination address (integer).
        sport: TCP source port.
        dport: TCP destination port.
        seq: Sequence number.
        ack: Acknowledgement number.
        flags: TCP flag bits (the simulator's constants are the header bits).
        window: Raw 16-bit window field.
        payload: Segment payload.
        mss: MSS option value; non-zero adds MSS, NOP and window-scale options.
        wscale: Window-scale shift announced with the MSS option.
        ttl: IPv4 time to live.
        ip_id: IPv4 identification.

    Returns:
        The frame bytes (14 + IPv4 total length).
    """
    n = len(payload)
    # Both checksums are sums of 16-bit words taken mod 65535; the header words
    # are added as integers, the payload through its integer value (an odd
    # length counts as if padded with a zero byte).
    addresses = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
    if mss:
        options = _SYN_OPTIONS.pack(2, 4, mss, 1, 3, 3, wscale)
        tcp_len = 28 + n
        words = 0x7000 + 0x0204 + mss + 0x0103 + 0x0300 + wscale
    else:
        options = b""
        tcp_len = 20 + n
        words = 0x5000
    words += addresses + _PROTO_TCP + tcp_len + sport + dport + flags + window
    words += (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)
    if n:
        words += int.from_bytes(payload, "big") << 8 if n & 1 else int.from_bytes(payload, "big")
    tcp_sum = 0xFFFF - (words % 0xFFFF or 0xFFFF)
    offset = 0x70 if mss else 0x50
    total = 20 + tcp_len
    ip_words = 0x4500 + total + ip_id + _IP_DF + (ttl << 8) + _PROTO_TCP + addresses
    ip_sum = 0xFFFF - (ip_words % 0xFFFF or 0xFFFF)
    return b"".join(
        (
            dst_mac,
            src_mac,
            _ETHERTYPE_IPV4,
            _IP.pack(0x45, 0, total, ip_id, _IP_DF, ttl, _PROTO_TCP, ip_sum, src, dst),
            _TCP.pack(sport, dport, seq, ack, offset, flags, window, tcp_sum, 0),
            options,
            payload,
        )
    )


class PcapWriter:
    """Writes a classic pcap file (Ethernet, nanosecond timestamps), one frame at a time.

    Attributes:
        packets: Frames written so far.
    """

    def __init__(self, file: BinaryIO, snaplen: int = SNAPLEN) -> None:
        self._file = file
        self._snaplen = snaplen
        self.packets = 0
        header = dpkt.pcap.LEFileHdr(
            magic=dpkt.pcap.TCPDUMP_MAGIC_NANO,
            v_major=dpkt.pcap.PCAP_VERSION_MAJOR,
            v_minor=dpkt.pcap.PCAP_VERSION_MINOR,
            snaplen=snaplen,
            linktype=dpkt.pcap.DLT_EN10MB,
        )
        file.write(bytes(header))

    def write(self, time: float, frame: bytes) -> None:
        """Append one frame stamped ``time`` seconds after the epoch."""
        sec, nsec = divmod(round(time * 1e9), 1_000_000_000)
        n = len(frame)
        kept = frame if n <= self._snaplen else frame[: self._snaplen]
        self._file.write(_RECORD.pack(sec, nsec, len(kept), n) + kept)
        self.packets += 1


class CapturedPacket(NamedTuple):
    """One packet read back from a capture (for tests and notebooks).

    Attributes:
        time: Timestamp in seconds.
        src_mac: Ethernet source.
        dst_mac: Ethernet destination.
        ip: The IPv4 packet as dpkt parsed it (``ip.data`` is the TCP segment).
        frame: The whole frame.
    """

    time: float
    src_mac: bytes
    dst_mac: bytes
    ip: dpkt.ip.IP
    frame: bytes

    @property
    def tcp(self) -> dpkt.tcp.TCP:
        """The TCP segment."""
        segment: dpkt.tcp.TCP = self.ip.data
        return segment


def read_pcap(path: str | Path) -> Iterator[CapturedPacket]:
    """Read the Ethernet/IPv4/TCP packets of a pcap file with dpkt.

    Args:
        path: A capture written by :class:`PcapWriter` (or any Ethernet pcap).

    Yields:
        One :class:`CapturedPacket` per frame, in file order.
    """
    with open(path, "rb") as file:
        for ts, frame in dpkt.pcap.Reader(file):
            eth = dpkt.ethernet.Ethernet(frame)
            yield CapturedPacket(float(ts), eth.src, eth.dst, eth.data, frame)
