"""TLS record bytes for captures: handshake flights and application-data records.

Theory of operation: the TLS model (:mod:`lbsim.app.tls`) sends two kinds of
values in the TCP stream, and this module registers an encoder for each with
:func:`lbsim.capture.payload.register_encoder`:

* a :class:`~lbsim.app.tls.messages.TlsHandshake` flight lists its records; each
  becomes a record header (content type, version ``0x0303``, or ``0x0301`` for the
  ClientHello's record as clients send it, length) and a fragment. Plaintext
  handshake messages get a 4-byte header and a body built field by field from the
  same tables that fixed their lengths (:mod:`lbsim.app.tls.wire`): a ClientHello
  with ``server_name``, ``supported_versions``, ``key_share``, ``pre_shared_key``
  and the rest, a ServerHello, a TLS 1.2 Certificate holding DER certificates
  (:mod:`lbsim.capture.der`: the subject is the SNI), ServerKeyExchange,
  ClientKeyExchange and NewSessionTicket. A change_cipher_spec record is the byte
  1. Sealed records (everything TLS 1.3 encrypts, TLS 1.2 Finished messages) are
  opaque bytes, as a capture without keys shows them. A flight is a few kilobytes
  and is built whole (and cached);
* a :class:`~lbsim.app.tls.messages.TlsData` is the inner message cut into records
  of 2**14 plaintext bytes plus overhead, all type 23, each a header and opaque
  "ciphertext". It can be megabytes, so it is never built whole: a read of any
  byte range computes which records it overlaps and cuts their headers and
  ciphertext out of a fixed pseudo-random pattern.

Random-looking fields (hello randoms, session ids, key shares, signatures,
tickets, ciphertext) are derived from the flight's ``nonce`` or the message, so the
same simulation always gives the same bytes and a retransmission the same bytes
again. Every encoding is exactly the ``size`` the simulation used.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from lbsim.app.tls import wire
from lbsim.app.tls.messages import Record, Ticket, TlsData, TlsHandshake
from lbsim.capture.der import certificate
from lbsim.capture.payload import Filler, register_encoder

__all__ = ["CIPHERTEXT", "SealedRecords", "WireBytes", "encode_data", "encode_handshake"]

_HEADER = struct.Struct("!BHH")
_U16 = struct.Struct("!H")

#: Stands in for ciphertext: a pseudo-random pattern (a prime period, so records
#: of the usual sizes do not repeat each other).
CIPHERTEXT = Filler(hashlib.shake_256(b"lbsim ciphertext").digest(8191), repeat=1)


class WireBytes:
    """A message whose bytes are built whole.

    Attributes:
        data: The bytes.
        size: Their number.
    """

    __slots__ = ("data", "size")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)``."""
        return self.data[start:stop]


# ---------------------------------------------------------------- helpers


def _u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def _vec8(data: bytes) -> bytes:
    return bytes((len(data),)) + data


def _vec16(data: bytes) -> bytes:
    return _U16.pack(len(data)) + data


def _random(flight: TlsHandshake, label: bytes, n: int) -> bytes:
    """``n`` pseudo-random bytes for one field of one connection."""
    return hashlib.shake_256(b"%d|" % flight.nonce + label).digest(n)


def _ticket_bytes(ticket: Ticket | None) -> bytes:
    """The opaque ticket: the same bytes when issued and when offered again."""
    if ticket is None:
        return b""
    seed = f"{ticket.issuer}|{ticket.issued_at!r}|{ticket.lifetime!r}".encode()
    return hashlib.shake_256(b"ticket|" + seed).digest(wire.TICKET_SIZE)


def _session_id(flight: TlsHandshake, server: bool) -> bytes:
    """Legacy session id for one side of a handshake.

    The client's own, echoed by a TLS 1.3 server or on resumption; a fresh one
    from a TLS 1.2 server in a full handshake.
    """
    fresh = server and flight.version == "1.2" and not flight.resumed
    return _random(flight, b"server session" if fresh else b"session", wire.SESSION_ID)


def _u16s(values: tuple[int, ...]) -> bytes:
    return b"".join(_U16.pack(v) for v in values)


def _alpn() -> bytes:
    return _vec16(b"".join(_vec8(p) for p in wire.ALPN_PROTOCOLS))


def _extensions(exts: wire.Extensions, build: Callable[[int, int], bytes], message: str) -> bytes:
    """An extensions block; ``build(type, length)`` makes each body."""
    out = []
    for ext_type, length in exts:
        body = build(ext_type, length)
        if len(body) != length:
            raise RuntimeError(
                f"{message}: extension {ext_type} is {len(body)} bytes, not {length}"
            )
        out.append(_U16.pack(ext_type) + _vec16(body))
    return _vec16(b"".join(out))


# ---------------------------------------------------------- hello messages


def _client_hello(flight: TlsHandshake) -> bytes:
    version = flight.version
    ticket = _ticket_bytes(flight.ticket)
    offered = len(ticket) if flight.ticket is not None else None
    sni = wire.sni_bytes(flight.sni)

    def ext(ext_type: int, length: int) -> bytes:
        if ext_type == wire.EXT_SERVER_NAME:
            return _vec16(b"\x00" + _vec16(sni))
        if ext_type == wire.EXT_EC_POINT_FORMATS:
            return b"\x01\x00"
        if ext_type == wire.EXT_SUPPORTED_GROUPS:
            return _vec16(_u16s(wire.GROUPS))
        if ext_type == wire.EXT_SESSION_TICKET:
            return ticket[:length]
        if ext_type == wire.EXT_ALPN:
            return _alpn()
        if ext_type == wire.EXT_SIGNATURE_ALGORITHMS:
            return _vec16(_u16s(wire.SIGNATURE_SCHEMES))
        if ext_type == wire.EXT_SUPPORTED_VERSIONS:
            return _vec8(_u16s(wire.SUPPORTED_VERSIONS))
        if ext_type == wire.EXT_PSK_KEY_EXCHANGE_MODES:
            return b"\x01\x01"  # psk_dhe_ke
        if ext_type == wire.EXT_KEY_SHARE:
            share = _U16.pack(wire.X25519) + _vec16(_random(flight, b"client share", 32))
            return _vec16(share)
        if ext_type == wire.EXT_PADDING:
            return bytes(length)
        if ext_type == wire.EXT_PRE_SHARED_KEY:
            age = _random(flight, b"age", 4)
            identities = _vec16(_vec16(ticket) + age)
            binders = _vec16(_vec8(_random(flight, b"binder", wire.BINDER)))
            return identities + binders
        return b""  # extended_master_secret

    exts = wire.client_hello_extensions(version, flight.sni, offered)
    return b"".join(
        (
            b"\x03\x03",
            _random(flight, b"client random", wire.RANDOM),
            _vec8(_session_id(flight, server=False)),
            _vec16(_u16s(wire.CIPHER_SUITES[version])),
            b"\x01\x00",
            _extensions(exts, ext, "ClientHello"),
        )
    )


def _server_hello(flight: TlsHandshake) -> bytes:
    version = flight.version
    issues = _announces_ticket(flight)

    def ext(ext_type: int, length: int) -> bytes:
        if ext_type == wire.EXT_SUPPORTED_VERSIONS:
            return b"\x03\x04"
        if ext_type == wire.EXT_KEY_SHARE:
            return _U16.pack(wire.X25519) + _vec16(_random(flight, b"server share", 32))
        if ext_type == wire.EXT_PRE_SHARED_KEY:
            return b"\x00\x00"  # the first (only) identity offered
        if ext_type == wire.EXT_RENEGOTIATION_INFO:
            return b"\x00"
        if ext_type == wire.EXT_EC_POINT_FORMATS:
            return b"\x01\x00"
        if ext_type == wire.EXT_ALPN:
            return _vec16(_vec8(wire.ALPN_PROTOCOLS[0]))
        return b""  # server_name, extended_master_secret, session_ticket: empty

    exts = wire.server_hello_extensions(version, flight.resumed, issues)
    return b"".join(
        (
            b"\x03\x03",
            _random(flight, b"server random", wire.RANDOM),
            _vec8(_session_id(flight, server=True)),
            _U16.pack(flight.cipher_suite),
            b"\x00",
            _extensions(exts, ext, "ServerHello"),
        )
    )


def _announces_ticket(flight: TlsHandshake) -> bool:
    """Whether a TLS 1.2 ServerHello carries the empty session_ticket extension.

    The flight does not say so directly; its ServerHello's length does.
    """
    if flight.version != "1.2" or flight.resumed:
        return False
    for record in flight.records:
        for msg_type, length in record.messages:
            if msg_type == wire.SERVER_HELLO:
                return length == wire.server_hello_length("1.2", False, True)
    return False


# ------------------------------------------------------- other messages


def _chain(flight: TlsHandshake) -> tuple[bytes, ...]:
    """The DER certificates of the server's chain: leaf (the SNI), intermediate."""
    key = flight.key
    leaf, intermediate = wire.CERTIFICATE_CHAIN[key]
    ca = "lbsim RSA CA" if key == "rsa2048" else "lbsim ECC CA"
    root = "lbsim Root"
    seed = key.encode()
    return (
        certificate(leaf, flight.sni, ca, key, key, seed=seed + b"|" + flight.sni.encode()),
        certificate(intermediate, ca, root, key, key, ca=True, seed=seed),
    )


def _signature(flight: TlsHandshake) -> bytes:
    n = wire.SIGNATURE_SIZE[flight.key]
    return _U16.pack(wire.SIGNATURE_SCHEME[flight.key]) + _vec16(_random(flight, b"sig", n))


def _body(flight: TlsHandshake, msg_type: int, length: int) -> bytes:
    """The body of one plaintext handshake message."""
    if msg_type == wire.CLIENT_HELLO:
        return _client_hello(flight)
    if msg_type == wire.SERVER_HELLO:
        return _server_hello(flight)
    if msg_type == wire.CERTIFICATE:
        return _u24_vec(b"".join(_u24_vec(der) for der in _chain(flight)))
    if msg_type == wire.SERVER_KEY_EXCHANGE:
        public = _vec8(_random(flight, b"server share", wire.X25519_KEY))
        return b"\x03" + _U16.pack(wire.X25519) + public + _signature(flight)
    if msg_type == wire.CLIENT_KEY_EXCHANGE:
        return _vec8(_random(flight, b"client share", wire.X25519_KEY))
    if msg_type == wire.NEW_SESSION_TICKET:
        lifetime = int(flight.ticket.lifetime) if flight.ticket is not None else 0
        return lifetime.to_bytes(4, "big") + _vec16(_ticket_bytes(flight.ticket))
    if msg_type == wire.SERVER_HELLO_DONE:
        return b""
    return bytes(length)


def _u24_vec(data: bytes) -> bytes:
    return _u24(len(data)) + data


def _record(flight: TlsHandshake, record: Record, salt: int) -> bytes:
    first = record.messages[0][0] if record.messages else None
    version = (
        wire.CLIENT_HELLO_RECORD_VERSION if first == wire.CLIENT_HELLO else wire.RECORD_VERSION
    )
    header = _HEADER.pack(record.content_type, version, record.fragment)
    if record.content_type == wire.CHANGE_CIPHER_SPEC:
        return header + b"\x01"
    if record.sealed:
        return header + CIPHERTEXT.read(salt, salt + record.fragment)
    parts = [header]
    for msg_type, length in record.messages:
        body = _body(flight, msg_type, length)
        if len(body) != length:
            raise RuntimeError(
                f"{flight.kind}: handshake message {msg_type} is {len(body)} bytes, not {length}"
            )
        parts.append(bytes((msg_type,)) + _u24(length) + body)
    return b"".join(parts)


@lru_cache(maxsize=256)
def encode_handshake(flight: TlsHandshake) -> WireBytes:
    """The bytes of one handshake flight, exactly ``flight.size`` of them.

    Args:
        flight: A flight of the TLS model.

    Returns:
        Its records, back to back.
    """
    salt = (flight.nonce * 7919 + zlib.crc32(flight.kind.encode())) % 8191
    data = b"".join(_record(flight, r, salt + 64 * i) for i, r in enumerate(flight.records))
    if len(data) != flight.size:
        raise RuntimeError(f"{flight.kind}: encoded {len(data)} bytes for size {flight.size}")
    return WireBytes(data)


# ------------------------------------------------------ application data


class SealedRecords:
    """An application message as sealed records, readable by range.

    Records hold 2**14 plaintext bytes each (the last one the rest); each is the
    5-byte header and ``fragment`` bytes of ciphertext.

    Attributes:
        size: Total bytes.
    """

    __slots__ = ("_full", "_header_full", "_last", "_salt", "size")

    def __init__(self, size: int, version: str, salt: int = 0) -> None:
        overhead = wire.per_record_overhead(version)
        self.size = size
        self._full = wire.MAX_FRAGMENT + overhead  # a full record on the wire
        count = max(1, -(-size // self._full))
        # The last record's wire size (a well-formed size is never below overhead).
        self._last = size - (count - 1) * self._full
        self._header_full = _HEADER.pack(
            wire.APPLICATION_DATA, wire.RECORD_VERSION, self._full - wire.RECORD_HEADER
        )
        self._salt = salt

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the records."""
        full = self._full
        parts = []
        pos = start
        while pos < stop:
            offset = pos % full
            begin = pos - offset
            length = full if begin + full <= self.size else self._last
            end = min(stop, begin + length)
            if offset < wire.RECORD_HEADER:
                if length == full:
                    header = self._header_full
                else:
                    fragment = max(0, length - wire.RECORD_HEADER)
                    header = _HEADER.pack(wire.APPLICATION_DATA, wire.RECORD_VERSION, fragment)
                parts.append(header[offset : min(wire.RECORD_HEADER, end - begin)])
                offset = wire.RECORD_HEADER
            if begin + offset < end:
                cipher = self._salt + begin  # any stable position in the pattern
                parts.append(CIPHERTEXT.read(cipher + offset, cipher + end - begin))
            pos = end
        return b"".join(parts)


def _data_salt(inner: Any) -> int:
    """A per-message offset into the ciphertext pattern."""
    request = inner if hasattr(inner, "request_id") else getattr(inner, "request", None)
    label = f"{type(inner).__name__}|{getattr(request, 'request_id', '')}"
    return zlib.crc32(label.encode()) % 8191


def encode_data(data: TlsData) -> SealedRecords:
    """The bytes of an application message's sealed records, exactly ``data.size``.

    Args:
        data: Sealed application data of the TLS model.

    Returns:
        Its records, readable by range.
    """
    return SealedRecords(data.size, data.version, _data_salt(data.inner))


register_encoder(TlsHandshake, encode_handshake)
register_encoder(TlsData, encode_data)
