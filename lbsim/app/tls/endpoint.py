"""One end of one TLS connection, as a sans-IO state machine.

Theory of operation: a :class:`TlsEndpoint` never looks at a clock, a socket or
SimPy. The caller feeds it :meth:`~TlsEndpoint.start` (the client's first move)
and :meth:`~TlsEndpoint.receive` (a flight or a data record the TCP connection
delivered), each with the current time ``now``, and gets back a :class:`TlsStep`:

* ``send``: flights to write into the TCP stream, in order;
* ``cpu``: CPU seconds this end spends on the step. The flights in ``send`` are
  the result of that work, so the caller sends them once the CPU is done (it
  knows the core's queue; see :mod:`lbsim.host.cpu`);
* ``established``: the handshake completed at this step; from now on
  :meth:`~TlsEndpoint.wrap` seals application messages (a client may write its
  first request right behind the flights of this very step);
* ``app``: the application message a received data record carried;
* ``ticket``: a session ticket the client received at this step.

The endpoint walks the script of its handshake (:data:`lbsim.app.tls.flights.FLIGHTS`)
and raises :class:`~lbsim.app.tls.flights.TlsProtocolError` on anything out of
turn. The server decides at the ClientHello whether it resumes: only if it issues
tickets (``resumption``), the ticket offered is still valid, and its ``accepts``
says yes (by default: the ticket was issued under the same ``name``). Otherwise it
falls back to a full handshake, which costs the signature again. This is the
teaching point of resumption behind balancers: an L7 balancer (or backends that
share ticket keys) resumes any ticket it issued, but behind an L4 balancer the next
connection may land on another backend, which cannot decrypt a ticket issued by
its neighbour and so does a full handshake.

Costs (from :class:`~lbsim.app.tls.costs.TlsCosts`): the server pays for its
signature and key exchange when it processes the ClientHello, before its reply
flight leaves; the client pays for verification and key exchange when it
processes the server's first flight, before its next flight leaves; the receiver
of a data record pays ``per_byte * size`` to decrypt it (the step's ``cpu``), and
the sender pays as much to encrypt it (:meth:`~TlsEndpoint.encrypt_cost`), which
:meth:`~TlsEndpoint.wrap` leaves to the caller.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lbsim.app.tls.costs import TlsCosts
from lbsim.app.tls.flights import (
    CLIENT,
    CLIENT_HELLO,
    FLIGHTS,
    NEW_SESSION_TICKET,
    POST_HANDSHAKE,
    SERVER,
    TlsProtocolError,
    build_flight,
)
from lbsim.app.tls.messages import Ticket, TlsData, TlsHandshake
from lbsim.app.tls.wire import KEY_TYPES, TLS_VERSIONS, record_overhead

__all__ = ["DEFAULT_COSTS", "TlsEndpoint", "TlsStep", "encrypt_cost"]

#: Costs used when none are given.
DEFAULT_COSTS = TlsCosts()
#: Default ticket lifetime, seconds (2 hours, the lifetime hint of RFC 5077's
#: examples and OpenSSL's default session timeout for tickets; RFC 8446 4.6.1
#: allows at most 7 days; nginx's ``ssl_session_timeout`` defaults to 5 minutes).
TICKET_LIFETIME = 7200.0


@dataclass(frozen=True, slots=True)
class TlsStep:
    """What one input made an endpoint do.

    Attributes:
        send: Flights to send now, in order (after ``cpu`` seconds of work; when to
            send them is the caller's decision).
        cpu: CPU seconds this end spends on the step: handshake cryptography, or
            decrypting a received data record (``per_byte * size``).
        established: The handshake completed at this step (this end may now send
            application data, right behind ``send``).
        app: The application message carried by a received data record.
        ticket: A session ticket the client received at this step.
    """

    send: tuple[TlsHandshake, ...]
    cpu: float
    established: bool
    app: Any = None
    ticket: Ticket | None = None


_NOTHING = TlsStep((), 0.0, False)


def encrypt_cost(data: TlsData, costs: TlsCosts = DEFAULT_COSTS) -> float:
    """CPU seconds to seal ``data`` (``per_byte * size``), charged to its sender."""
    return costs.per_byte * data.size


class TlsEndpoint:
    """One end (client or server) of one TLS connection.

    Attributes:
        role: ``"client"`` or ``"server"``.
        version: ``"1.2"`` or ``"1.3"``.
        key: Server: type of its certificate key. Client: the type it learned from
            the server's flight (until then, the constructor's value).
        name: Server: the name tickets are issued under (a balancer or backend
            name). Client: a label that seeds the capture's random fields.
        sni: Server name the client asks for.
        ticket: Client: the ticket it will offer (if still valid at :meth:`start`).
        offered: Client: the ticket it offered, or ``None``.
        resumption: Server: issues tickets and resumes sessions from them.
        accepts: Server: whether a ticket can be resumed here (default: issued
            under this endpoint's ``name``). Expired tickets never are.
        ticket_lifetime: Server: lifetime of the tickets it issues.
        costs: CPU cost table.
        established: The handshake is complete at this end.
        resumed: The handshake resumed a session (known to the client once the
            server's first flight arrives).
        new_ticket: Client: the last ticket the server issued on this connection
            (TLS 1.2 full handshake; TLS 1.3 after any handshake), else ``None``.
        handshake_cpu: CPU seconds this end spent on handshakes so far.
    """

    __slots__ = (
        "_done",
        "_nonce",
        "_script",
        "_started",
        "accepts",
        "costs",
        "established",
        "handshake_cpu",
        "key",
        "name",
        "new_ticket",
        "offered",
        "resumed",
        "resumption",
        "role",
        "sni",
        "ticket",
        "ticket_lifetime",
        "version",
    )

    def __init__(
        self,
        role: str,
        version: str,
        *,
        key: str = "ecdsa_p256",
        name: str = "",
        ticket: Ticket | None = None,
        resumption: bool = False,
        accepts: Callable[[Ticket], bool] | None = None,
        ticket_lifetime: float = TICKET_LIFETIME,
        costs: TlsCosts = DEFAULT_COSTS,
        sni: str = "www.example.com",
    ) -> None:
        """Create an endpoint (arguments as the attributes of the same names).

        Raises:
            ValueError: For an unknown role, version or key type, a ticket given to
                a server, or a non-positive ticket lifetime.
        """
        if role not in (CLIENT, SERVER):
            raise ValueError(f"role must be 'client' or 'server', got {role!r}")
        if version not in TLS_VERSIONS:
            raise ValueError(f"unknown TLS version {version!r} (known: {', '.join(TLS_VERSIONS)})")
        if key not in KEY_TYPES:
            raise ValueError(f"unknown key type {key!r} (known: {', '.join(KEY_TYPES)})")
        if ticket is not None and role == SERVER:
            raise ValueError("only a client holds a ticket to offer")
        if not ticket_lifetime > 0:
            raise ValueError(f"ticket_lifetime must be > 0, got {ticket_lifetime!r}")
        self.role = role
        self.version = version
        self.key = key
        self.name = name
        self.sni = sni
        self.ticket = ticket
        self.offered: Ticket | None = None
        self.resumption = resumption
        self.accepts = accepts
        self.ticket_lifetime = ticket_lifetime
        self.costs = costs
        self.established = False
        self.resumed = False
        self.new_ticket: Ticket | None = None
        self.handshake_cpu = 0.0
        self._script: tuple[tuple[str, str], ...] | None = None
        self._done = 0  # flights of the script sent or received so far
        self._started = False
        self._nonce = 0

    def __repr__(self) -> str:
        return f"TlsEndpoint({self.role}, TLS {self.version}, {self.state})"

    @property
    def state(self) -> str:
        """``"established"``, or which flight the endpoint waits for (or sends next)."""
        if self.established:
            return "established"
        if self._script is None:
            return "start" if self._done == 0 else "wait ServerHello"
        kind, sender = self._script[self._done]
        return f"wait {kind}" if sender != self.role else f"send {kind}"

    # ------------------------------------------------------------ inputs

    def start(self, now: float) -> TlsStep:
        """Begin the handshake.

        Args:
            now: Current time (the client checks its ticket's expiry against it).

        Returns:
            Client: a step sending the ClientHello (offering the ticket if it is
            still valid). Server: an empty step (it waits for a ClientHello).

        Raises:
            TlsProtocolError: If called twice.
        """
        if self._started:
            raise TlsProtocolError(f"{self.role} started twice")
        self._started = True
        if self.role == SERVER:
            return _NOTHING
        ticket = self.ticket
        offered = ticket if ticket is not None and ticket.valid(now) else None
        self.offered = offered
        self._nonce = zlib.crc32(f"{self.name}|{now!r}".encode())
        flight = build_flight(
            CLIENT_HELLO,
            self.version,
            resumed=offered is not None,
            sni=self.sni,
            ticket=offered,
            nonce=self._nonce,
        )
        self._done = 1
        return TlsStep((flight,), 0.0, False)

    def receive(self, message: TlsHandshake | TlsData, now: float) -> TlsStep:
        """Process a flight or a data record from the peer.

        Args:
            message: What the TCP connection delivered.
            now: Current time.

        Returns:
            What to do about it (see :class:`TlsStep`).

        Raises:
            TlsProtocolError: On a flight out of turn, application data before the
                handshake is complete, or a message of another TLS version.
        """
        if isinstance(message, TlsData):
            if not self.established:
                raise TlsProtocolError(f"{self.role} got application data before the handshake")
            if message.version != self.version:
                raise TlsProtocolError(f"TLS {message.version} record on a TLS {self.version} link")
            return TlsStep((), self.costs.per_byte * message.size, False, message.inner)
        if not isinstance(message, TlsHandshake):
            raise TlsProtocolError(f"not a TLS message: {type(message).__name__}")
        if message.version != self.version and not (
            self.role == SERVER and not self._started and message.kind == CLIENT_HELLO
        ):  # a server takes the version of the ClientHello (negotiation)
            raise TlsProtocolError(f"TLS {message.version} flight on a TLS {self.version} link")
        if self.established:
            return self._post_handshake(message)
        if self.role == SERVER:
            return self._server_receive(message, now)
        return self._client_receive(message)

    def wrap(self, inner: Any) -> TlsData:
        """Seal an application message into application-data records.

        Pure: the caller charges :meth:`encrypt_cost` to the sender.

        Args:
            inner: A message with a ``size`` (HTTP request or response, raw...).

        Returns:
            The records as one value, ``inner.size`` plus their overhead long.

        Raises:
            TlsProtocolError: Before the handshake is complete at this end.
        """
        if not self.established:
            raise TlsProtocolError(f"{self.role} cannot send application data before the handshake")
        size = int(inner.size)
        return TlsData(inner, size + record_overhead(size, self.version), self.version)

    def encrypt_cost(self, data: TlsData) -> float:
        """CPU seconds to seal ``data`` (``per_byte * size``)."""
        return self.costs.per_byte * data.size

    # ------------------------------------------------------------ internals

    def _expect(self, message: TlsHandshake, sender: str, resumed: bool) -> None:
        """Check that ``message`` is the next flight of the script, sent by ``sender``.

        Checked before anything changes, so a refused flight leaves the endpoint as
        it was.
        """
        kind, expected_sender = FLIGHTS[(self.version, resumed)][self._done]
        if message.kind != kind or expected_sender != sender:
            mode = "resumed" if resumed else "full"
            raise TlsProtocolError(
                f"{self.role} in a {mode} TLS {self.version} handshake expected "
                f"{kind!r} from the {expected_sender}, got {message.kind!r}"
            )

    def _resumable(self, ticket: Ticket | None, now: float) -> bool:
        """Whether the server resumes the session of ``ticket`` (module docstring)."""
        if ticket is None or not self.resumption or not ticket.valid(now):
            return False
        if self.accepts is not None:
            return bool(self.accepts(ticket))
        return ticket.issuer == self.name

    def _issue(self, now: float) -> Ticket:
        return Ticket(self.name, now, self.ticket_lifetime)

    def _server_receive(self, message: TlsHandshake, now: float) -> TlsStep:
        cpu = 0.0
        if self._script is None:
            if message.kind != CLIENT_HELLO:
                raise TlsProtocolError(f"server expected a ClientHello, got {message.kind!r}")
            # Version negotiation: the server speaks both versions and answers in
            # the one the client offers (its ``version`` is only the default).
            self.version = message.version
            self._started = True
            self.resumed = self._resumable(message.ticket, now)
            self.sni = message.sni
            self._nonce = message.nonce
            self._script = FLIGHTS[(self.version, self.resumed)]
            cpu = self.costs.server_handshake(self.key, self.resumed)
            self.handshake_cpu += cpu
        version = self.version
        script = self._script
        self._expect(message, CLIENT, self.resumed)
        self._done += 1
        # TLS 1.2 full handshakes announce and carry a ticket; 1.3 sends it afterwards.
        issues = self.resumption and version == "1.2" and not self.resumed
        send: list[TlsHandshake] = []
        if self._done < len(script):
            kind, _ = script[self._done]
            ticket = self._issue(now) if issues and self._done == len(script) - 1 else None
            send.append(self._flight(kind, ticket=ticket, issues_ticket=issues))
            self._done += 1
        if self._done < len(script):
            return TlsStep(tuple(send), cpu, False)
        self.established = True
        if self.resumption and version == "1.3":
            send.append(self._flight(NEW_SESSION_TICKET, ticket=self._issue(now)))
        return TlsStep(tuple(send), cpu, True)

    def _client_receive(self, message: TlsHandshake) -> TlsStep:
        if not self._started:
            raise TlsProtocolError(f"client got {message.kind!r} before it started")
        cpu = 0.0
        script = self._script
        if script is None:
            # The server's first flight tells whether it resumes.
            if message.resumed and self.offered is None:
                raise TlsProtocolError("server resumed a session the client did not offer")
            self._expect(message, SERVER, message.resumed)
            script = FLIGHTS[(self.version, message.resumed)]
            self._script = script
            self.resumed = message.resumed
            self.key = message.key
            cpu = self.costs.client_handshake(message.key, self.resumed)
            self.handshake_cpu += cpu
        else:
            self._expect(message, SERVER, self.resumed)
        self._done += 1
        if message.ticket is not None:
            self.new_ticket = message.ticket
        send: tuple[TlsHandshake, ...] = ()
        if self._done < len(script):
            kind, _ = script[self._done]
            send = (self._flight(kind),)
            self._done += 1
        self.established = self._done == len(script)
        return TlsStep(send, cpu, self.established, ticket=message.ticket)

    def _post_handshake(self, message: TlsHandshake) -> TlsStep:
        sender = POST_HANDSHAKE[self.version].get(message.kind)
        if sender is None or sender == self.role:
            raise TlsProtocolError(
                f"{self.role} got {message.kind!r} after a TLS {self.version} handshake"
            )
        if message.ticket is not None:
            self.new_ticket = message.ticket
        return TlsStep((), 0.0, False, ticket=message.ticket)

    def _flight(
        self, kind: str, *, ticket: Ticket | None = None, issues_ticket: bool = False
    ) -> TlsHandshake:
        return build_flight(
            kind,
            self.version,
            resumed=self.resumed,
            key=self.key,
            sni=self.sni,
            ticket=ticket,
            issues_ticket=issues_ticket,
            nonce=self._nonce,
        )
