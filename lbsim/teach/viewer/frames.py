"""The frames behind the viewer's events: captured packets joined to traced segments.

Theory of operation: the packet capture (:mod:`lbsim.capture`) already turns every
segment on a link into a real Ethernet/IPv4/TCP frame: MAC addresses, TTL (64 from
a sender, 63 after a router or an L4 balancer that forwards), IP identification,
both checksums, the SYN options and payload bytes synthesized from the
application messages (HTTP heads, TLS records). The viewer shows those values, so
it captures each variant it shows and reads the two pcap files back.

A captured packet carries no link name and, for packets arriving at the balancer,
its time stamp is the arrival time, not the send time. So packets are joined to
the segment trace by their headers: on each side of the balancer, the n-th packet
with given (source, destination, ports, seq, ack, flags, payload length) is the
n-th traced segment with the same values (links are FIFO, so a retransmission
with identical headers keeps its order).

:func:`frame_fields` reads what the page needs from one frame;
:func:`payload_view` says what the payload shows at L6 (TLS record types) and L7
(an HTTP request or status line and its headers), from the bytes alone.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lbsim.capture.pcap import read_pcap

__all__ = ["FrameKey", "frame_fields", "join_frames", "payload_view"]

#: (side, src, dst, sport, dport, seq, ack, flags, payload length).
FrameKey = tuple[str, str, str, int, int, int, int, str, int]

_FLAG_BITS = (("SYN", 0x02), ("FIN", 0x01), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10))
_TLS_TYPES = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}
_HANDSHAKE_TYPES = {
    1: "ClientHello",
    2: "ServerHello",
    4: "NewSessionTicket",
    8: "EncryptedExtensions",
    11: "Certificate",
    12: "ServerKeyExchange",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
}
_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"PATCH ", b"OPTIONS ")
#: Most header bytes shown for one HTTP head.
_HEAD_LIMIT = 2048


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _flags(bits: int) -> str:
    return ",".join(name for name, bit in _FLAG_BITS if bits & bit)


def frame_fields(packet: Any) -> dict[str, Any]:
    """The header values of one captured packet, as the page shows them.

    Args:
        packet: A :class:`~lbsim.capture.pcap.CapturedPacket`.

    Returns:
        MACs, IPv4 (TTL, identification, checksum, total length) and TCP fields
        (ports, seq, ack, flags, window, checksum, MSS and window-scale options)
        and the payload bytes.
    """
    ip = packet.ip
    tcp = ip.data
    mss = wscale = 0
    for kind, value in _tcp_options(bytes(tcp.opts)):
        if kind == 2 and len(value) == 2:
            mss = int.from_bytes(value, "big")
        elif kind == 3 and len(value) == 1:
            wscale = value[0]
    return {
        "smac": _mac(packet.src_mac),
        "dmac": _mac(packet.dst_mac),
        "ttl": int(ip.ttl),
        "ipid": int(ip.id),
        "ipsum": int(ip.sum),
        "iplen": int(ip.len),
        "tcpsum": int(tcp.sum),
        "mss": mss,
        "wscale": wscale,
        "payload": bytes(tcp.data),
        "key_flags": _flags(int(tcp.flags)),
        "src": _ip(ip.src),
        "dst": _ip(ip.dst),
        "sport": int(tcp.sport),
        "dport": int(tcp.dport),
        "seq": int(tcp.seq),
        "ack": int(tcp.ack),
    }


def _tcp_options(raw: bytes) -> Iterable[tuple[int, bytes]]:
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            return
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(raw):
            return
        size = raw[i + 1]
        yield kind, raw[i + 2 : i + size]
        i += max(size, 2)


def join_frames(pcaps: dict[str, Path]) -> dict[FrameKey, deque[dict[str, Any]]]:
    """Read a variant's capture files into queues of frames keyed by their headers.

    Args:
        pcaps: Side (``client``, ``backend``) -> capture file.

    Returns:
        :data:`FrameKey` -> that key's frames, in capture order.
    """
    frames: dict[FrameKey, deque[dict[str, Any]]] = defaultdict(deque)
    for side, path in pcaps.items():
        for packet in read_pcap(path):
            f = frame_fields(packet)
            key = (
                side, f["src"], f["dst"], f["sport"], f["dport"],
                f["seq"], f["ack"], f["key_flags"], len(f["payload"]),
            )  # fmt: skip
            frames[key].append(f)
    return frames


def _http_head(payload: bytes) -> str | None:
    if not (payload.startswith(_METHODS) or payload.startswith(b"HTTP/1.")):
        return None
    end = payload.find(b"\r\n\r\n")
    head = payload[: end if end >= 0 else _HEAD_LIMIT][:_HEAD_LIMIT]
    return head.decode("latin-1")


def _tls_records(payload: bytes) -> list[str]:
    """TLS records that start in this payload (walking record lengths from byte 0)."""
    out: list[str] = []
    i = 0
    encrypted = False  # after ChangeCipherSpec, handshake bodies are ciphertext
    while i + 5 <= len(payload):
        kind, major, minor = payload[i], payload[i + 1], payload[i + 2]
        if kind not in _TLS_TYPES or major != 3 or minor > 4:
            break
        length = int.from_bytes(payload[i + 3 : i + 5], "big")
        name = _TLS_TYPES[kind]
        if kind == 20:
            encrypted = True
        elif kind == 22 and encrypted:
            name += " (encrypted: Finished)"
        elif kind == 22 and i + 5 < len(payload):
            name += " " + _HANDSHAKE_TYPES.get(payload[i + 5], f"type {payload[i + 5]}")
        out.append(f"{name} ({length} B)")
        i += 5 + length
    return out


def payload_view(payload: bytes, tls: bool) -> tuple[str, str]:
    """What a payload shows at L6 and L7, from its bytes.

    Args:
        payload: TCP payload bytes.
        tls: Whether the connection carries TLS (its payload is records).

    Returns:
        ``(l6, l7)``: TLS record types starting in it (``""`` if none or not
        TLS) and the HTTP head it starts with (``""`` if it does not start one).
    """
    if not payload:
        return "", ""
    if tls:
        records = _tls_records(payload)
        if records:
            return ", ".join(records), "(encrypted)"
        return "(continues a TLS record)", "(encrypted)"
    return "", _http_head(payload) or ""
