"""The TLS model without SimPy: two endpoints over a fake wire that counts round trips.

``Wire`` connects a client and a server endpoint with a one-way delay; each side
has one CPU that works through its steps in order, and a step's flights leave when
its CPU work is done. The time at which the client may send its first application
byte, in units of the round-trip time, is the number of round trips the handshake
costs (docs/validation.md, "TCP and TLS timing").
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbsim.app.http import HttpRequest
from lbsim.app.raw import RawRequest
from lbsim.app.tls import (
    FLIGHTS,
    KEY_TYPES,
    TLS_VERSIONS,
    Ticket,
    TlsCosts,
    TlsData,
    TlsEndpoint,
    TlsHandshake,
    TlsProtocolError,
    build_flight,
    encrypt_cost,
    handshake_round_trips,
    record_overhead,
    wire,
)
from lbsim.app.tls.flights import CLIENT_FINISHED, CLIENT_HELLO, NEW_SESSION_TICKET

ZERO = TlsCosts(0, 0, 0, 0, 0, 0)
CASES = [(v, k, r) for v in TLS_VERSIONS for k in KEY_TYPES for r in (False, True)]


def request(size: int = 400, request_id: str = "browsers-0-1") -> HttpRequest:
    return HttpRequest(request_id, "GET", "/index.html", size, 20_000, 0.5)


@dataclass
class Wire:
    """A lossless wire between a client and a server endpoint, with one CPU each."""

    client: TlsEndpoint
    server: TlsEndpoint
    delay: float = 1.0
    now: float = 0.0
    busy: dict[str, float] = field(default_factory=lambda: {"client": 0.0, "server": 0.0})
    log: list[tuple[float, str, str, int]] = field(default_factory=list)
    flights: list[TlsHandshake] = field(default_factory=list)
    client_ready: float | None = None  # when the client may send its first app byte
    received: list[tuple[str, Any, float]] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    _queue: list[tuple[float, int, str, Any]] = field(default_factory=list)
    _order: Any = field(default_factory=itertools.count)

    def _emit(self, role: str, step: Any, t: float, then: Any = None) -> None:
        done = max(t, self.busy[role]) + step.cpu
        self.busy[role] = done
        peer = "server" if role == "client" else "client"
        for flight in step.send:
            self.log.append((done, role, flight.kind, flight.size))
            self.flights.append(flight)
            heapq.heappush(self._queue, (done + self.delay, next(self._order), peer, flight))
        if step.ticket is not None:
            self.tickets.append(step.ticket)
        if step.established and role == "client" and self.client_ready is None:
            self.client_ready = done
            if then is not None:
                self.send("client", then, done)

    def send(self, role: str, inner: Any, t: float) -> TlsData:
        """Seal ``inner`` at ``role`` and put it on the wire (after encrypting it)."""
        end = self.client if role == "client" else self.server
        data = end.wrap(inner)
        done = max(t, self.busy[role]) + end.encrypt_cost(data)
        self.busy[role] = done
        peer = "server" if role == "client" else "client"
        heapq.heappush(self._queue, (done + self.delay, next(self._order), peer, data))
        return data

    def run(self, first: Any = None) -> Wire:
        """Handshake, then send ``first`` from the client (and answer it), until quiet."""
        self._emit("client", self.client.start(0.0), 0.0, first)
        self.server.start(0.0)
        while self._queue:
            t, _, role, message = heapq.heappop(self._queue)
            self.now = t
            end = self.client if role == "client" else self.server
            step = end.receive(message, t)
            self._emit(role, step, t, first)
            if step.app is not None:
                done = self.busy[role]
                self.received.append((role, step.app, done))
                if role == "server":
                    self.send("server", step.app.respond(200, step.app.response_size, "b"), done)
        return self


def pair(version: str, key: str = "ecdsa_p256", **kw: Any) -> tuple[TlsEndpoint, TlsEndpoint]:
    costs = kw.pop("costs", ZERO)
    ticket = kw.pop("ticket", None)
    client = TlsEndpoint("client", version, name="c", ticket=ticket, costs=costs)
    server = TlsEndpoint(
        "server", version, key=key, name=kw.pop("name", "lb"), costs=costs,
        resumption=kw.pop("resumption", True), **kw,
    )  # fmt: skip
    return client, server


def ticket_for(version: str, key: str = "ecdsa_p256") -> Ticket:
    """A ticket from a full handshake with server ``lb``."""
    client, server = pair(version, key)
    Wire(client, server).run()
    assert client.new_ticket is not None
    return client.new_ticket


# ------------------------------------------------------------ round trips

EXPECTED_RTT = {("1.2", False): 2, ("1.2", True): 1, ("1.3", False): 1, ("1.3", True): 1}


@pytest.mark.parametrize(("version", "key", "resumed"), CASES)
def test_round_trips_before_the_first_application_byte(
    version: str, key: str, resumed: bool
) -> None:
    ticket = ticket_for(version, key) if resumed else None
    client, server = pair(version, key, ticket=ticket)
    w = Wire(client, server, delay=0.5).run(request())
    assert client.resumed is server.resumed is resumed
    assert w.client_ready == EXPECTED_RTT[version, resumed] * 1.0
    assert handshake_round_trips(version, resumed) == EXPECTED_RTT[version, resumed]
    # The request is answered one round trip later.
    assert [(role, type(m).__name__) for role, m, _ in w.received] == [
        ("server", "HttpRequest"),
        ("client", "HttpResponse"),
    ]
    assert w.received[1][2] == w.client_ready + 1.0


@pytest.mark.parametrize(("version", "key", "resumed"), CASES)
def test_handshake_cpu_delays_the_first_byte_by_both_ends_work(
    version: str, key: str, resumed: bool
) -> None:
    costs = TlsCosts()
    ticket = ticket_for(version, key) if resumed else None
    client, server = pair(version, key, ticket=ticket, costs=costs)
    w = Wire(client, server, delay=0.5).run()
    server_cpu = costs.server_handshake(key, resumed)
    client_cpu = costs.client_handshake(key, resumed)
    assert server.handshake_cpu == pytest.approx(server_cpu)
    assert client.handshake_cpu == pytest.approx(client_cpu)
    rtt = EXPECTED_RTT[version, resumed]
    assert w.client_ready == pytest.approx(rtt + server_cpu + client_cpu)


# ----------------------------------------------------------- flight tables

#: (sender, kind, size) per case, with tickets on (the NewSessionTicket rows).
FLIGHT_TABLE = {
    ("1.3", "ecdsa_p256", False): [
        ("client", "ClientHello", 517),
        ("server", "ServerHello..Finished", 2179),
        ("client", "ClientFinished", 64),
        ("server", "NewSessionTicket", 239),
    ],
    ("1.3", "rsa2048", False): [
        ("client", "ClientHello", 517),
        ("server", "ServerHello..Finished", 3264),
        ("client", "ClientFinished", 64),
        ("server", "NewSessionTicket", 239),
    ],
    ("1.3", "ecdsa_p256", True): [
        ("client", "ClientHello", 517),
        ("server", "ServerHello..Finished", 240),
        ("client", "ClientFinished", 64),
        ("server", "NewSessionTicket", 239),
    ],
    ("1.2", "ecdsa_p256", False): [
        ("client", "ClientHello", 517),
        ("server", "ServerHello..ServerHelloDone", 2066),
        ("client", "ClientKeyExchange..Finished", 93),
        ("server", "ServerFinished", 258),
    ],
    ("1.2", "rsa2048", False): [
        ("client", "ClientHello", 517),
        ("server", "ServerHello..ServerHelloDone", 3151),
        ("client", "ClientKeyExchange..Finished", 93),
        ("server", "ServerFinished", 258),
    ],
    ("1.2", "rsa2048", True): [
        ("client", "ClientHello", 517),
        ("server", "ServerHello..Finished", 162),
        ("client", "ClientFinished", 51),
    ],
}


@pytest.mark.parametrize("case", list(FLIGHT_TABLE), ids=lambda c: "-".join(map(str, c)))
def test_flight_kinds_and_sizes(case: tuple[str, str, bool]) -> None:
    version, key, resumed = case
    ticket = ticket_for(version, key) if resumed else None
    w = Wire(*pair(version, key, ticket=ticket)).run()
    assert [entry[1:] for entry in w.log] == FLIGHT_TABLE[case]
    script = [kind for kind, _ in FLIGHTS[version, resumed]]
    assert [kind for _, _, kind, _ in w.log if kind != NEW_SESSION_TICKET] == script


def test_without_tickets_a_tls12_server_sends_no_ticket_and_a_smaller_hello() -> None:
    client, server = pair("1.2", resumption=False)
    w = Wire(client, server).run()
    sizes = {kind: size for _, _, kind, size in w.log}
    assert sizes["ServerFinished"] == 258 - 207  # no NewSessionTicket record
    assert sizes["ServerHello..ServerHelloDone"] == 2066 - 4  # no session_ticket extension
    assert client.new_ticket is None and not w.tickets


def test_tls13_without_tickets_sends_no_new_session_ticket() -> None:
    client, server = pair("1.3", resumption=False)
    w = Wire(client, server).run()
    assert [kind for _, _, kind, _ in w.log] == [
        "ClientHello",
        "ServerHello..Finished",
        "ClientFinished",
    ]
    assert client.new_ticket is None


@pytest.mark.parametrize(("version", "key", "resumed"), CASES)
def test_flight_sizes_are_their_records_with_headers(version: str, key: str, resumed: bool) -> None:
    ticket = ticket_for(version, key) if resumed else None
    flights = Wire(*pair(version, key, ticket=ticket)).run().flights
    assert len(flights) >= 3
    for flight in flights:
        assert flight.size == sum(wire.RECORD_HEADER + r.fragment for r in flight.records)
        for record in flight.records:
            plain = sum(wire.HANDSHAKE_HEADER + n for _, n in record.messages)
            if record.content_type == wire.CHANGE_CIPHER_SPEC:
                assert (record.fragment, record.messages, record.sealed) == (1, (), False)
            elif record.sealed:
                assert record.fragment == plain + wire.per_record_overhead(version) - 5
                expected = wire.APPLICATION_DATA if version == "1.3" else wire.HANDSHAKE
                assert record.content_type == expected
            else:
                assert record.fragment == plain and record.content_type == wire.HANDSHAKE
            assert record.fragment <= wire.MAX_FRAGMENT + 256


def test_flight_record_contents() -> None:
    """The messages of the server's first flight, by version and key type."""
    tls13 = build_flight("ServerHello..Finished", "1.3", resumed=False, key="rsa2048")
    assert [(r.content_type, [m for m, _ in r.messages]) for r in tls13.records] == [
        (22, [wire.SERVER_HELLO]),
        (20, []),
        (23, [wire.ENCRYPTED_EXTENSIONS]),
        (23, [wire.CERTIFICATE]),
        (23, [wire.CERTIFICATE_VERIFY]),
        (23, [wire.FINISHED]),
    ]
    # CertificateVerify: scheme, length, 256-byte RSA signature; Certificate: the chain.
    assert tls13.records[4].messages[0][1] == 2 + 2 + 256
    assert tls13.records[3].messages[0][1] == 1 + 3 + (3 + 1400 + 2) + (3 + 1300 + 2)
    tls12 = build_flight("ServerHello..ServerHelloDone", "1.2", resumed=False, key="ecdsa_p256")
    assert [m for r in tls12.records for m, _ in r.messages] == [
        wire.SERVER_HELLO,
        wire.CERTIFICATE,
        wire.SERVER_KEY_EXCHANGE,
        wire.SERVER_HELLO_DONE,
    ]
    assert tls12.records[2].messages[0][1] == 1 + 2 + 1 + 32 + 2 + 2 + 71


def test_client_hello_is_padded_to_512_bytes_and_grows_with_a_long_name() -> None:
    for version in TLS_VERSIONS:
        hello = build_flight(CLIENT_HELLO, version, resumed=False)
        assert hello.size == 5 + 512
        ticket = Ticket("lb", 0.0, 100.0)
        resumed = build_flight(CLIENT_HELLO, version, resumed=True, ticket=ticket)
        assert resumed.size == 5 + 512  # the ticket fits in what padding took
        long_name = build_flight(CLIENT_HELLO, version, resumed=True, ticket=ticket, sni="a" * 300)
        assert long_name.size > 517
        exts = wire.client_hello_extensions(version, "a" * 300, wire.TICKET_SIZE)
        assert wire.EXT_PADDING not in [t for t, _ in exts]
    exts13 = wire.client_hello_extensions("1.3", "www.example.com", wire.TICKET_SIZE)
    assert exts13[-1][0] == wire.EXT_PRE_SHARED_KEY  # must be last (RFC 8446 4.2.11)


def test_flights_reject_kinds_of_another_version() -> None:
    with pytest.raises(TlsProtocolError, match="no flight"):
        build_flight("ServerHello..ServerHelloDone", "1.3", resumed=False)
    with pytest.raises(TlsProtocolError, match="no flight"):
        build_flight(NEW_SESSION_TICKET, "1.2", resumed=False)
    with pytest.raises(ValueError, match="version"):
        build_flight(CLIENT_HELLO, "1.1", resumed=False)
    with pytest.raises(ValueError, match="key type"):
        build_flight(CLIENT_HELLO, "1.3", resumed=False, key="dsa")


def test_a_flight_whose_records_disagree_with_its_size_is_refused() -> None:
    hello = build_flight(CLIENT_HELLO, "1.3", resumed=False)
    with pytest.raises(ValueError, match="records add up"):
        TlsHandshake(hello.kind, "1.3", hello.size + 1, False, records=hello.records)


# ------------------------------------------------------------------- costs


@pytest.mark.parametrize(("version", "key", "resumed"), CASES)
def test_cpu_per_end_follows_the_cost_table(version: str, key: str, resumed: bool) -> None:
    # Distinct powers of two, so any mix-up of terms shows.
    costs = TlsCosts(
        rsa2048_sign=1.0, ecdsa_p256_sign=2.0, x25519=4.0,
        rsa2048_verify=8.0, ecdsa_p256_verify=16.0, per_byte=0.0,
    )  # fmt: skip
    ticket = ticket_for(version, key) if resumed else None
    client, server = pair(version, key, ticket=ticket, costs=costs)
    Wire(client, server).run()
    sign = {"rsa2048": 1.0, "ecdsa_p256": 2.0}[key]
    verify = {"rsa2048": 8.0, "ecdsa_p256": 16.0}[key]
    assert server.handshake_cpu == (4.0 if resumed else sign + 4.0)
    assert client.handshake_cpu == (4.0 if resumed else verify + 4.0)


def test_default_costs_come_from_validation() -> None:
    costs = TlsCosts()
    assert costs.server_handshake("rsa2048", False) == pytest.approx(0.29e-3)
    assert costs.server_handshake("ecdsa_p256", False) == pytest.approx(0.05e-3)
    assert costs.server_handshake("rsa2048", True) == pytest.approx(0.03e-3)
    assert costs.client_handshake("rsa2048", False) == pytest.approx(0.04e-3)
    assert costs.client_handshake("ecdsa_p256", False) == pytest.approx(0.09e-3)
    # Verification is far cheaper than signing for RSA, dearer for ECDSA.
    assert costs.rsa2048_verify < costs.rsa2048_sign / 20
    assert 2 <= costs.ecdsa_p256_verify / costs.ecdsa_p256_sign <= 3
    assert costs.bulk(4_000_000_000) == pytest.approx(1.0)


def test_costs_are_validated() -> None:
    with pytest.raises(ValueError, match="per_byte"):
        TlsCosts(per_byte=-1.0)
    with pytest.raises(ValueError, match="key type"):
        TlsCosts().server_handshake("ed25519", False)
    with pytest.raises(ValueError, match="key type"):
        TlsCosts().client_handshake("ed25519", True)


# ----------------------------------------------------------- resumption


@pytest.mark.parametrize("version", TLS_VERSIONS)
def test_full_handshake_issues_a_ticket_under_the_server_name(version: str) -> None:
    client, server = pair(version, name="web-1", ticket_lifetime=300.0)
    w = Wire(client, server).run()
    ticket = client.new_ticket
    assert ticket is not None and w.tickets == [ticket]
    assert (ticket.issuer, ticket.lifetime) == ("web-1", 300.0)
    # Issued when the server got the client's second flight, at t = 3 one-way
    # delays (1.2: in ServerFinished; 1.3: in a NewSessionTicket after it).
    assert ticket.issued_at == 3.0
    assert ticket.expires_at == ticket.issued_at + 300.0


def test_tls13_issues_a_fresh_ticket_after_resumption_and_tls12_keeps_the_old_one() -> None:
    for version, fresh in (("1.3", True), ("1.2", False)):
        ticket = ticket_for(version)
        client, server = pair(version, ticket=ticket)
        Wire(client, server).run()
        assert client.resumed and client.offered == ticket
        assert (client.new_ticket is not None) is fresh


@pytest.mark.parametrize("version", TLS_VERSIONS)
def test_expired_ticket_is_not_offered(version: str) -> None:
    ticket = Ticket("lb", issued_at=-200.0, lifetime=100.0)
    assert not ticket.valid(0.0)
    client, server = pair(version, ticket=ticket)
    (hello,) = client.start(0.0).send
    assert client.offered is None and hello.ticket is None and not hello.resumed
    step = server.receive(hello, 0.5)
    assert not server.resumed and step.cpu == 0.0


@pytest.mark.parametrize("version", TLS_VERSIONS)
def test_ticket_expiring_in_flight_falls_back_to_a_full_handshake(version: str) -> None:
    costs = TlsCosts()
    ticket = Ticket("lb", issued_at=0.0, lifetime=10.0)
    client, server = pair(version, key="rsa2048", ticket=ticket, costs=costs)
    (hello,) = client.start(9.99).send
    assert hello.ticket == ticket
    step = server.receive(hello, 10.0)  # valid while now < issued_at + lifetime
    assert not server.resumed
    assert step.cpu == pytest.approx(costs.server_handshake("rsa2048", False))
    done = client.receive(step.send[0], 10.01)
    assert not client.resumed
    assert done.cpu == pytest.approx(costs.client_handshake("rsa2048", False))


@pytest.mark.parametrize("version", TLS_VERSIONS)
def test_ticket_of_another_backend_is_not_resumed_unless_accepted(version: str) -> None:
    """Behind an L4 balancer the next connection may reach another backend."""
    ticket = Ticket("web-1", 0.0, 7200.0)
    client, server = pair(version, ticket=ticket, name="web-2")
    w = Wire(client, server).run()
    assert not client.resumed and not server.resumed
    full = [kind for kind, _ in FLIGHTS[version, False]]
    assert [kind for _, _, kind, _ in w.log][: len(full)] == full
    assert client.new_ticket is not None and client.new_ticket.issuer == "web-2"
    # Backends sharing ticket keys accept each other's tickets.
    shared = {"web-1", "web-2"}
    client, server = pair(
        version, ticket=ticket, name="web-2", accepts=lambda t: t.issuer in shared
    )
    Wire(client, server).run()
    assert client.resumed and server.resumed
    # A server that does not do resumption never resumes.
    client, server = pair(version, ticket=Ticket("lb", 0.0, 1.0), resumption=False)
    Wire(client, server).run()
    assert not client.resumed and client.new_ticket is None


# ------------------------------------------------------------ data records

OVERHEAD = {  # (bytes, version) -> overhead: 29 per record in 1.2, 22 in 1.3
    (0, "1.2"): 0,
    (1, "1.2"): 29,
    (16384, "1.2"): 29,
    (16385, "1.2"): 58,
    (100000, "1.2"): 7 * 29,
    (0, "1.3"): 0,
    (1, "1.3"): 22,
    (16384, "1.3"): 22,
    (16385, "1.3"): 44,
    (100000, "1.3"): 7 * 22,
}


@pytest.mark.parametrize(("nbytes", "version"), list(OVERHEAD))
def test_record_overhead_examples(nbytes: int, version: str) -> None:
    assert record_overhead(nbytes, version) == OVERHEAD[nbytes, version]


def test_record_overhead_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="negative"):
        record_overhead(-1, "1.3")
    with pytest.raises(ValueError, match="version"):
        record_overhead(10, "1.0")


@pytest.mark.parametrize("version", TLS_VERSIONS)
def test_wrap_and_receive_round_trip(version: str) -> None:
    costs = TlsCosts()
    client, server = pair(version, costs=costs)
    Wire(client, server).run()
    req = request(50_000)
    data = client.wrap(req)
    assert data.inner is req and data.version == version
    assert data.size == 50_000 + record_overhead(50_000, version)
    assert client.encrypt_cost(data) == encrypt_cost(data) == pytest.approx(0.25e-9 * data.size)
    step = server.receive(data, 5.0)
    assert step.app is req and step.send == () and not step.established
    assert step.cpu == pytest.approx(costs.per_byte * data.size)
    raw = RawRequest("db-0-1", "query", 300, 1000, 0.5)
    back = client.receive(server.wrap(raw), 6.0)
    assert back.app is raw


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from(TLS_VERSIONS),
    sizes=st.lists(st.integers(0, 300_000), min_size=1, max_size=20),
)
def test_wire_size_is_size_plus_record_overhead(version: str, sizes: list[int]) -> None:
    client, server = pair(version)
    Wire(client, server).run()
    for n in sizes:
        data = client.wrap(request(n))
        assert data.size == n + record_overhead(n, version)
        records = math.ceil(n / 16384)
        assert data.size == n + records * (29 if version == "1.2" else 22)
        assert server.receive(data, 1.0).app.size == n


# ------------------------------------------------------- illegal sequences


def test_application_data_before_the_handshake_is_refused() -> None:
    client, server = pair("1.3")
    with pytest.raises(TlsProtocolError, match="before the handshake"):
        client.wrap(request())
    with pytest.raises(TlsProtocolError, match="before the handshake"):
        server.receive(TlsData(request(), 422, "1.3"), 0.0)


def test_out_of_turn_flights_are_refused() -> None:
    client, server = pair("1.2")
    finished = build_flight(CLIENT_FINISHED, "1.2", resumed=True)
    with pytest.raises(TlsProtocolError, match="expected a ClientHello"):
        server.receive(finished, 0.0)
    with pytest.raises(TlsProtocolError, match="before it started"):
        client.receive(build_flight("ServerHello..Finished", "1.2", resumed=True), 0.0)
    (hello,) = client.start(0.0).send
    with pytest.raises(TlsProtocolError, match="started twice"):
        client.start(0.0)
    with pytest.raises(
        TlsProtocolError, match=re.escape("expected 'ServerHello..ServerHelloDone'")
    ):
        client.receive(hello, 0.0)  # a ClientHello reflected back
    with pytest.raises(TlsProtocolError, match="did not offer"):
        client.receive(build_flight("ServerHello..Finished", "1.2", resumed=True), 0.0)
    step = server.receive(hello, 0.0)
    with pytest.raises(TlsProtocolError, match=re.escape("expected 'ClientKeyExchange..Finished'")):
        server.receive(finished, 0.0)
    client.receive(step.send[0], 0.0)
    assert client.state == "wait ServerFinished"


def test_post_handshake_messages_are_checked() -> None:
    client, server = pair("1.2")
    Wire(client, server).run()
    nst = build_flight(NEW_SESSION_TICKET, "1.3", resumed=False)
    with pytest.raises(TlsProtocolError, match=re.escape("TLS 1.3 flight on a TLS 1.2")):
        client.receive(nst, 0.0)
    client13, server13 = pair("1.3")
    Wire(client13, server13).run()
    with pytest.raises(TlsProtocolError, match=re.escape("after a TLS 1.3 handshake")):
        server13.receive(nst, 0.0)  # only the server sends tickets
    with pytest.raises(TlsProtocolError, match=re.escape("after a TLS 1.3 handshake")):
        client13.receive(build_flight(CLIENT_HELLO, "1.3", resumed=False), 0.0)
    with pytest.raises(TlsProtocolError, match=re.escape("TLS 1.2 record")):
        client13.receive(TlsData(request(), 429, "1.2"), 0.0)
    with pytest.raises(TlsProtocolError, match="not a TLS message"):
        client13.receive(request(), 0.0)  # type: ignore[arg-type]


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="role"):
        TlsEndpoint("proxy", "1.3")
    with pytest.raises(ValueError, match="version"):
        TlsEndpoint("client", "1.1")
    with pytest.raises(ValueError, match="key type"):
        TlsEndpoint("server", "1.3", key="rsa4096")
    with pytest.raises(ValueError, match="ticket"):
        TlsEndpoint("server", "1.3", ticket=Ticket("lb", 0.0, 1.0))
    with pytest.raises(ValueError, match="ticket_lifetime"):
        TlsEndpoint("server", "1.3", ticket_lifetime=0.0)


def test_state_names_follow_the_script() -> None:
    client, server = pair("1.2")
    assert (client.state, server.state) == ("start", "start")
    (hello,) = client.start(0.0).send
    assert client.state == "wait ServerHello"
    assert server.start(0.0).send == ()
    step = server.receive(hello, 0.0)
    assert server.state == "wait ClientKeyExchange..Finished"
    client.receive(step.send[0], 0.0)
    assert repr(client) == "TlsEndpoint(client, TLS 1.2, wait ServerFinished)"
