"""The TLS handshakes as tables of flights, and the records of each flight.

Theory of operation: a handshake is a fixed script of *flights*, the groups of
messages one side sends before it waits for the other. :data:`FLIGHTS` holds the
script of each (version, resumed) pair as data; an endpoint
(:mod:`lbsim.app.tls.endpoint`) walks it and raises :class:`TlsProtocolError` when
a flight arrives out of turn, the way the TCP state table
(:mod:`lbsim.transport.states`) rejects an impossible transition. Because the
scripts are data, round trips can be read off them: the client sends its first
application byte together with, or right after, its last handshake step, so the
handshake costs as many round trips as the script has server flights.

The flights, with what each carries (ECDHE with X25519, AES-128-GCM, server
certificate of key type ``rsa2048`` or ``ecdsa_p256``; ``[x]`` = sealed record,
``CCS`` = change_cipher_spec record):

TLS 1.3, full (RFC 8446 2, 1 RTT)::

    C->S  ClientHello               ClientHello (key_share)
    S->C  ServerHello..Finished     ServerHello, CCS, [EncryptedExtensions],
                                    [Certificate], [CertificateVerify], [Finished]
    C->S  ClientFinished            CCS, [Finished]      -- then application data
    S->C  NewSessionTicket          [NewSessionTicket]   -- post-handshake, if tickets

TLS 1.3, resumed (PSK with (EC)DHE, RFC 8446 2.2, 1 RTT, no early data)::

    C->S  ClientHello               ClientHello (key_share, pre_shared_key)
    S->C  ServerHello..Finished     ServerHello, CCS, [EncryptedExtensions], [Finished]
    C->S  ClientFinished            CCS, [Finished]      -- then application data
    S->C  NewSessionTicket          [NewSessionTicket]   -- a fresh ticket, if tickets

TLS 1.2, full (RFC 5246 7.3 with ECDHE, RFC 8422; 2 RTT)::

    C->S  ClientHello                    ClientHello
    S->C  ServerHello..ServerHelloDone   ServerHello, Certificate, ServerKeyExchange,
                                         ServerHelloDone
    C->S  ClientKeyExchange..Finished    ClientKeyExchange, CCS, [Finished]
    S->C  ServerFinished                 NewSessionTicket (if tickets), CCS, [Finished]
                                         -- then the client sends application data

TLS 1.2, resumed from a ticket (RFC 5077 3.1, abbreviated handshake, 1 RTT)::

    C->S  ClientHello               ClientHello (session_ticket)
    S->C  ServerHello..Finished     ServerHello, CCS, [Finished]
    C->S  ClientFinished            CCS, [Finished]      -- then application data

TLS 1.3 servers here send the middlebox-compatibility change_cipher_spec records
(RFC 8446 D.4), as OpenSSL does by default, so both versions look alike on the
wire up to the first sealed record. Every handshake message travels in its own
record (as OpenSSL writes them); sealed TLS 1.3 records all say "application
data" in their header, which is what a capture without keys shows. The TLS 1.3
server sends its ticket once it has the client's Finished (RFC 8446 4.6.1), as
OpenSSL does; it goes out ahead of the response to the first request.
"""

from __future__ import annotations

from functools import lru_cache

from lbsim.app.tls import wire
from lbsim.app.tls.messages import Record, Ticket, TlsHandshake
from lbsim.app.tls.wire import (
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    HANDSHAKE,
    HANDSHAKE_HEADER,
    KEY_TYPES,
    MAX_FRAGMENT,
    SELECTED_SUITE,
    TICKET_SIZE,
    TLS_VERSIONS,
    sealed_length,
)

__all__ = [
    "CLIENT",
    "CLIENT_FINISHED",
    "CLIENT_HELLO",
    "CLIENT_KEY_EXCHANGE",
    "FLIGHTS",
    "NEW_SESSION_TICKET",
    "SERVER",
    "SERVER_FINISHED",
    "SERVER_HELLO_DONE",
    "SERVER_HELLO_FINISHED",
    "TlsProtocolError",
    "build_flight",
    "handshake_round_trips",
]

CLIENT = "client"
SERVER = "server"

# Flight kinds.
CLIENT_HELLO = "ClientHello"
SERVER_HELLO_FINISHED = "ServerHello..Finished"
SERVER_HELLO_DONE = "ServerHello..ServerHelloDone"
CLIENT_KEY_EXCHANGE = "ClientKeyExchange..Finished"
CLIENT_FINISHED = "ClientFinished"
SERVER_FINISHED = "ServerFinished"
NEW_SESSION_TICKET = "NewSessionTicket"

_SHORT = (
    (CLIENT_HELLO, CLIENT),
    (SERVER_HELLO_FINISHED, SERVER),
    (CLIENT_FINISHED, CLIENT),
)

#: The handshake script per ``(version, resumed)``: ``(flight kind, sender)`` in order.
FLIGHTS: dict[tuple[str, bool], tuple[tuple[str, str], ...]] = {
    ("1.3", False): _SHORT,
    ("1.3", True): _SHORT,
    ("1.2", False): (
        (CLIENT_HELLO, CLIENT),
        (SERVER_HELLO_DONE, SERVER),
        (CLIENT_KEY_EXCHANGE, CLIENT),
        (SERVER_FINISHED, SERVER),
    ),
    ("1.2", True): _SHORT,
}

#: Flights allowed once the handshake is over, per version: ``kind -> sender``.
POST_HANDSHAKE: dict[str, dict[str, str]] = {
    "1.3": {NEW_SESSION_TICKET: SERVER},
    "1.2": {},
}


class TlsProtocolError(Exception):
    """A flight or record arrived where the handshake does not allow it."""


def handshake_round_trips(version: str, resumed: bool) -> int:
    """Round trips before the client may send application data.

    Read off :data:`FLIGHTS`: each server flight is one round trip the client
    waits for (TLS 1.2 full: 2; TLS 1.2 resumed, TLS 1.3 full or resumed: 1).
    """
    return sum(1 for _, sender in FLIGHTS[(version, resumed)] if sender == SERVER)


# ------------------------------------------------------------------ records


def _plain(msg_type: int, body: int) -> Record:
    """A handshake message alone in a plaintext record."""
    if HANDSHAKE_HEADER + body > MAX_FRAGMENT:
        raise ValueError(f"handshake message of {body} bytes does not fit one record")
    return Record(HANDSHAKE, HANDSHAKE_HEADER + body, ((msg_type, body),))


def _sealed(version: str, msg_type: int, body: int) -> Record:
    """A handshake message alone in a sealed record (TLS 1.3's say application data)."""
    if HANDSHAKE_HEADER + body > MAX_FRAGMENT:
        raise ValueError(f"handshake message of {body} bytes does not fit one record")
    outer = APPLICATION_DATA if version == "1.3" else HANDSHAKE
    fragment = sealed_length(HANDSHAKE_HEADER + body, version)
    return Record(outer, fragment, ((msg_type, body),), sealed=True)


_CCS = Record(CHANGE_CIPHER_SPEC, 1)


@lru_cache(maxsize=1024)
def flight_records(
    kind: str,
    version: str,
    key: str,
    resumed: bool,
    sni: str,
    offers_ticket: bool,
    issues_ticket: bool,
) -> tuple[Record, ...]:
    """The records of one flight (tables in the module docstring).

    Args:
        kind: Flight kind.
        version: ``"1.2"`` or ``"1.3"``.
        key: Server certificate key type.
        resumed: Whether the handshake resumes a session.
        sni: Server name (sets the ClientHello's length).
        offers_ticket: A ClientHello that offers a ticket.
        issues_ticket: The server issues a ticket in this handshake (TLS 1.2: its
            ServerHello announces it and its last flight carries it).

    Returns:
        The records, in order.

    Raises:
        TlsProtocolError: If ``kind`` is not a flight of that version.
    """
    fin = wire.FINISHED_SIZE[version]
    if kind == CLIENT_HELLO:
        ticket = TICKET_SIZE if offers_ticket else None
        return (_plain(wire.CLIENT_HELLO, wire.client_hello_length(version, sni, ticket)),)
    if kind == SERVER_HELLO_FINISHED and version == "1.3":
        records = [
            _plain(wire.SERVER_HELLO, wire.server_hello_length(version, resumed, False)),
            _CCS,
            _sealed(
                version,
                wire.ENCRYPTED_EXTENSIONS,
                wire.extensions_length(wire.encrypted_extensions(resumed)),
            ),
        ]
        if not resumed:
            records += [
                _sealed(version, wire.CERTIFICATE, wire.certificate_length(version, key)),
                _sealed(version, wire.CERTIFICATE_VERIFY, wire.certificate_verify_length(key)),
            ]
        records.append(_sealed(version, wire.FINISHED, fin))
        return tuple(records)
    if kind == SERVER_HELLO_FINISHED and version == "1.2" and resumed:
        sh = wire.server_hello_length(version, True, False)
        return (_plain(wire.SERVER_HELLO, sh), _CCS, _sealed(version, wire.FINISHED, fin))
    if kind == SERVER_HELLO_DONE and version == "1.2" and not resumed:
        return (
            _plain(wire.SERVER_HELLO, wire.server_hello_length(version, False, issues_ticket)),
            _plain(wire.CERTIFICATE, wire.certificate_length(version, key)),
            _plain(wire.SERVER_KEY_EXCHANGE, wire.server_key_exchange_length(key)),
            _plain(wire.SERVER_HELLO_DONE, 0),
        )
    if kind == CLIENT_KEY_EXCHANGE and version == "1.2" and not resumed:
        return (
            _plain(wire.CLIENT_KEY_EXCHANGE, wire.client_key_exchange_length()),
            _CCS,
            _sealed(version, wire.FINISHED, fin),
        )
    if kind == CLIENT_FINISHED and (version == "1.3" or resumed):
        return (_CCS, _sealed(version, wire.FINISHED, fin))
    if kind == SERVER_FINISHED and version == "1.2" and not resumed:
        ticket_records = (
            (_plain(wire.NEW_SESSION_TICKET, wire.new_session_ticket_length(version)),)
            if issues_ticket
            else ()
        )
        return (*ticket_records, _CCS, _sealed(version, wire.FINISHED, fin))
    if kind == NEW_SESSION_TICKET and version == "1.3":
        return (_sealed(version, wire.NEW_SESSION_TICKET, wire.new_session_ticket_length("1.3")),)
    mode = "resumed" if resumed else "full"
    raise TlsProtocolError(f"no flight {kind!r} in a {mode} TLS {version} handshake")


def build_flight(
    kind: str,
    version: str,
    *,
    resumed: bool,
    key: str = "ecdsa_p256",
    sni: str = "www.example.com",
    ticket: Ticket | None = None,
    issues_ticket: bool = False,
    nonce: int = 0,
) -> TlsHandshake:
    """One flight as a value to send in the TCP stream.

    Args:
        kind: Flight kind (see :data:`FLIGHTS`).
        version: ``"1.2"`` or ``"1.3"``.
        resumed: Whether the handshake resumes a session.
        key: Server certificate key type.
        sni: Server name.
        ticket: In a ClientHello, the ticket offered; in the flight that carries a
            NewSessionTicket, the ticket issued.
        issues_ticket: TLS 1.2 full handshake in which the server issues a ticket.
        nonce: Per-connection seed for a capture's random-looking fields.

    Returns:
        The flight, its size the sum of its records.
    """
    if version not in TLS_VERSIONS:
        raise ValueError(f"unknown TLS version {version!r} (known: {', '.join(TLS_VERSIONS)})")
    if key not in KEY_TYPES:
        raise ValueError(f"unknown key type {key!r} (known: {', '.join(KEY_TYPES)})")
    offers = kind == CLIENT_HELLO and ticket is not None
    records = flight_records(kind, version, key, resumed, sni, offers, issues_ticket)
    suite = 0 if kind == CLIENT_HELLO else SELECTED_SUITE[(version, key)]
    size = sum(r.size for r in records)
    return TlsHandshake(kind, version, size, resumed, sni, records, key, suite, ticket, nonce)
