"""TLS values carried in the TCP byte stream: handshake flights, data records, tickets.

Theory of operation: like an HTTP message (:mod:`lbsim.app.http`), a TLS value is
a frozen object sent as a *mark* in the TCP stream, whose ``size`` is the number of
bytes it occupies there. The unit is what one side sends at once:

* :class:`TlsHandshake` is one handshake *flight*: every record a side sends before
  it waits for the peer (for example ServerHello, ChangeCipherSpec and the
  encrypted EncryptedExtensions, Certificate, CertificateVerify and Finished of a
  TLS 1.3 server). It lists its :class:`Record` s, so a capture can write them.
* :class:`TlsData` is one application message (an HTTP request or response, a raw
  request...) cut into sealed application-data records; ``inner`` is the message
  it protects, which only the peer's TLS endpoint gets back.
* :class:`Ticket` is a resumable session as the client keeps it.

Which flights exist, in which order, and what they contain is the business of
:mod:`lbsim.app.tls.flights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lbsim.app.tls.wire import RECORD_HEADER

__all__ = ["Record", "Ticket", "TlsData", "TlsHandshake"]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A resumable session, held by the client (RFC 5077 ticket, RFC 8446 PSK).

    Attributes:
        issuer: Name of the server endpoint that issued it. Whether another
            endpoint can resume it is that endpoint's decision (its ``accepts``):
            servers that share ticket keys can, others cannot.
        issued_at: Simulated time it was issued.
        lifetime: Seconds it may be used for (the NewSessionTicket lifetime).
    """

    issuer: str
    issued_at: float
    lifetime: float

    @property
    def expires_at(self) -> float:
        """Time from which it may no longer be offered or accepted."""
        return self.issued_at + self.lifetime

    def valid(self, now: float) -> bool:
        """Whether it may still be used at ``now``."""
        return now < self.issued_at + self.lifetime


@dataclass(frozen=True, slots=True)
class Record:
    """One TLS record of a handshake flight.

    Attributes:
        content_type: Type in the record header, as a capture shows it: 22
            handshake, 20 change_cipher_spec, 23 application data (every sealed
            TLS 1.3 record, whatever it carries).
        fragment: Bytes after the 5-byte header.
        messages: Handshake messages inside, as ``(handshake type, body length)``
            (inside the seal when ``sealed``); empty for change_cipher_spec.
        sealed: Encrypted (a capture shows opaque bytes).
    """

    content_type: int
    fragment: int
    messages: tuple[tuple[int, int], ...] = ()
    sealed: bool = False

    @property
    def size(self) -> int:
        """Bytes on the wire, header included."""
        return RECORD_HEADER + self.fragment


@dataclass(frozen=True, slots=True)
class TlsHandshake:
    """One handshake flight: all records a side sends at once.

    Attributes:
        kind: Which flight (:data:`lbsim.app.tls.flights.FLIGHTS` lists them).
        version: ``"1.2"`` or ``"1.3"``.
        size: Bytes on the wire, the 5-byte header of every record included.
        resumed: Part of a resumed handshake (a ClientHello: offers a ticket).
        sni: Server name the client asked for.
        records: The records, in order; their sizes add up to ``size``.
        key: Type of the server's certificate key.
        cipher_suite: Suite the server chose (0 in a ClientHello).
        ticket: The ticket offered (ClientHello) or issued (a flight with a
            NewSessionTicket); ``None`` otherwise.
        nonce: Per-connection number that seeds the random-looking fields when a
            capture writes the flight (random, session id, key shares).
    """

    kind: str
    version: str
    size: int
    resumed: bool
    sni: str = "www.example.com"
    records: tuple[Record, ...] = ()
    key: str = "ecdsa_p256"
    cipher_suite: int = 0
    ticket: Ticket | None = None
    nonce: int = 0

    def __post_init__(self) -> None:
        if self.records and sum(r.size for r in self.records) != self.size:
            raise ValueError(f"{self.kind}: records add up to a size other than {self.size}")


@dataclass(frozen=True, slots=True)
class TlsData:
    """Encrypted application data carrying one application message.

    Attributes:
        inner: The message it protects (an HTTP request or response, a raw
            request...).
        size: Bytes on the wire: ``inner.size`` plus the records' overhead
            (:func:`lbsim.app.tls.wire.record_overhead`).
        version: ``"1.2"`` or ``"1.3"``.
    """

    inner: Any
    size: int
    version: str
