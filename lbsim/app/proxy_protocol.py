"""The PROXY protocol header a layer-4 proxy writes before the client's bytes.

Theory of operation: a splicing proxy opens its own TCP connection to the
backend, so the backend's peer address is the proxy's. HAProxy's PROXY protocol
(the specification "The PROXY protocol, versions 1 & 2", haproxy.org,
doc/proxy-protocol.txt) passes the client's connection endpoints on in a header
that is the very first thing on the proxy's connection to the backend, before
any byte of the client's stream; the backend reads it, takes the client's
address from it as the connection's source, and hands the rest of the stream to
the application. Nothing comes back: the backend never answers the header.

Two encodings, both for TCP over IPv4 here (the simulator has no IPv6):

* version 1 (section 2.1), one line of text:
  ``PROXY TCP4 <src> <dst> <sport> <dport>`` and CRLF, addresses as dotted quads
  and ports in decimal, single spaces, at most 107 bytes;
* version 2 (section 2.2), binary: the 12-byte signature
  ``0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A``, one byte of version (high nibble 2)
  and command (low nibble 1, ``PROXY``) = ``0x21``, one byte of family
  (``AF_INET`` = 1, high nibble) and transport (``STREAM`` = 1, low nibble) =
  ``0x11``, a 16-bit length of the address block in network byte order (12 for
  IPv4), then source address, destination address (4 bytes each), source port
  and destination port (2 bytes each), all in network byte order: 28 bytes.

:class:`ProxyHeader` is the header as a message value: the proxy queues it as a
message of its own at the start of the backend connection, so its bytes count in
that connection's segments and bytes, and a packet capture renders them from
:meth:`ProxyHeader.encode`. :func:`parse` reads either version back (what the
backend does, and what tests use to check the encoders).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, Literal

from lbsim.net.addresses import ip_from_str, ip_to_str

__all__ = ["V2_SIGNATURE", "ProxyHeader", "encode_v1", "encode_v2", "parse"]

#: The version-2 signature (spec section 2.2): never valid at the start of HTTP,
#: SSL/TLS, SMTP, FTP or POP and not a valid line of the version-1 text either.
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_VERSION_PROXY: Final = 0x21  # version 2 (high nibble), command PROXY (low nibble)
_V2_INET_STREAM: Final = 0x11  # AF_INET (high nibble), STREAM (low nibble)
_V2_INET_LENGTH: Final = 12  # 4 + 4 address bytes, 2 + 2 port bytes
_V2_HEAD: Final = struct.Struct("!12sBBH")
_V2_INET: Final = struct.Struct("!IIHH")
#: Longest version-1 line the specification allows (TCP6 worst case, CRLF included).
V1_MAX: Final = 107


def encode_v1(src_ip: int, dst_ip: int, src_port: int, dst_port: int) -> bytes:
    """The version-1 (text) header of a TCP-over-IPv4 connection.

    Args:
        src_ip: The client's address (the connection's source, as the proxy saw it).
        dst_ip: The address the client connected to (the proxy's, e.g. the VIP).
        src_port: The client's port.
        dst_port: The port the client connected to.

    Returns:
        ``PROXY TCP4 <src> <dst> <sport> <dport>`` and CRLF, in ASCII.
    """
    line = f"PROXY TCP4 {ip_to_str(src_ip)} {ip_to_str(dst_ip)} {src_port} {dst_port}\r\n"
    return line.encode("ascii")


def encode_v2(src_ip: int, dst_ip: int, src_port: int, dst_port: int) -> bytes:
    """The version-2 (binary) header of a TCP-over-IPv4 connection, command PROXY.

    Args:
        src_ip: The client's address.
        dst_ip: The address the client connected to.
        src_port: The client's port.
        dst_port: The port the client connected to.

    Returns:
        28 bytes: signature, ``0x21``, ``0x11``, length 12, then the addresses
        and ports in network byte order.
    """
    head = _V2_HEAD.pack(V2_SIGNATURE, _V2_VERSION_PROXY, _V2_INET_STREAM, _V2_INET_LENGTH)
    return head + _V2_INET.pack(src_ip, dst_ip, src_port, dst_port)


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A PROXY protocol header as a message in the proxy-to-backend stream.

    Attributes:
        version: ``"v1"`` (text) or ``"v2"`` (binary).
        src_ip: The client's address.
        dst_ip: The address the client connected to.
        src_port: The client's port.
        dst_port: The port the client connected to.
    """

    version: Literal["v1", "v2"]
    src_ip: int
    dst_ip: int
    src_port: int
    dst_port: int

    def encode(self) -> bytes:
        """The header's bytes, exactly as they go on the wire."""
        coder = encode_v1 if self.version == "v1" else encode_v2
        return coder(self.src_ip, self.dst_ip, self.src_port, self.dst_port)

    @property
    def size(self) -> int:
        """Bytes the header occupies in the stream."""
        if self.version == "v2":
            return _V2_HEAD.size + _V2_INET_LENGTH
        return len(self.encode())

    @property
    def source(self) -> str:
        """The client's address as a dotted quad (what the backend records)."""
        return ip_to_str(self.src_ip)


def parse(data: bytes) -> tuple[ProxyHeader, int]:
    """Read a PROXY header (either version) at the start of ``data``.

    Only what this simulator sends is accepted: TCP over IPv4, command PROXY.

    Args:
        data: Bytes from the start of a connection's stream.

    Returns:
        The header and the number of bytes it took (the application's stream
        starts after them).

    Raises:
        ValueError: If ``data`` does not start with a complete header of that kind.
    """
    if data.startswith(V2_SIGNATURE):
        if len(data) < _V2_HEAD.size:
            raise ValueError("truncated PROXY v2 header")
        _sig, ver_cmd, fam, length = _V2_HEAD.unpack_from(data)
        if ver_cmd != _V2_VERSION_PROXY or fam != _V2_INET_STREAM or length < _V2_INET_LENGTH:
            raise ValueError(f"unsupported PROXY v2 header {ver_cmd:#04x} {fam:#04x} {length}")
        if len(data) < _V2_HEAD.size + length:
            raise ValueError("truncated PROXY v2 address block")
        src, dst, sport, dport = _V2_INET.unpack_from(data, _V2_HEAD.size)
        return ProxyHeader("v2", src, dst, sport, dport), _V2_HEAD.size + length
    end = data.find(b"\r\n", 0, V1_MAX)
    if not data.startswith(b"PROXY ") or end < 0:
        raise ValueError("no PROXY header")
    fields = data[:end].decode("ascii").split(" ")
    if len(fields) != 6 or fields[1] != "TCP4":
        raise ValueError(f"unsupported PROXY v1 line {data[:end]!r}")
    src, dst = ip_from_str(fields[2]), ip_from_str(fields[3])
    sport, dport = int(fields[4]), int(fields[5])
    if not (0 <= sport <= 0xFFFF and 0 <= dport <= 0xFFFF):
        raise ValueError(f"port out of range in {data[:end]!r}")
    return ProxyHeader("v1", src, dst, sport, dport), end + 2
