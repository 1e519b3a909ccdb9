"""TLS in captures: record bytes from the model's flights and data, checked by tshark.

Without a simulation: the TLS model's endpoints talk over a fake wire, their
flights and data records are encoded by the capture package's registry, and, for
tshark, laid out as TCP connections to port 443 in a synthetic pcap written with
the capture package's own frame and file writers. Checked:

* every encoding is exactly as long as the simulated size, and its records parse
  (headers, lengths, handshake headers) and match the flight's record list;
* ClientHello extensions follow :func:`lbsim.app.tls.wire.client_hello_extensions`
  for any server name; certificates are DER of the exact size;
* application data is records of at most 2**14 bytes plus overhead, readable by any
  range;
* tshark decodes the records (content types, handshake types, the server name,
  the certificate's DNS name) with no malformed packet and no warning.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbsim.app.http import HttpRequest, HttpResponse
from lbsim.app.tls import (
    KEY_TYPES,
    TLS_VERSIONS,
    Ticket,
    TlsData,
    TlsEndpoint,
    TlsHandshake,
    build_flight,
    record_overhead,
    wire,
)
from lbsim.capture import CaptureLimits
from lbsim.capture.capture import _KEEP, _PENDING, VariantCapture, _Conn
from lbsim.capture.der import certificate
from lbsim.capture.payload import ByteStream, encode
from lbsim.capture.pcap import PcapWriter, mac_for, tcp_frame
from lbsim.capture.tls import SealedRecords, WireBytes
from lbsim.net.addresses import LB_INSIDE, VIP
from lbsim.net.segment import ACK, FIN, PSH, SYN, Segment
from scenarios import scenario

CASES = [(v, k, r) for v in TLS_VERSIONS for k in KEY_TYPES for r in (False, True)]


def request(request_id: str, size: int = 400, response: int = 40_000) -> HttpRequest:
    return HttpRequest(request_id, "GET", "/index.html", size, response, 0.5)


def conversation(
    version: str, key: str, ticket: Ticket | None, sni: str = "www.example.com", rid: str = "r-1"
) -> tuple[list[tuple[int, Any]], Ticket | None]:
    """One connection's TLS messages in order, ``(direction, message)`` (0: client to
    server): handshake, one request and its response; and the ticket the client got."""
    client = TlsEndpoint("client", version, name=f"{rid}", ticket=ticket, sni=sni)
    server = TlsEndpoint("server", version, key=key, name="lb", resumption=True)
    out: list[tuple[int, Any]] = []
    pending = [(0, m) for m in client.start(0.0).send]
    t = 0.0
    while pending:
        direction, message = pending.pop(0)
        out.append((direction, message))
        t += 0.001
        step = (server if direction == 0 else client).receive(message, t)
        pending += [(1 - direction, m) for m in step.send]
        if direction == 1 and step.established:
            pending.append((0, client.wrap(request(rid))))
        if step.app is not None and direction == 0:
            answer = step.app.respond(200, step.app.response_size, "web-1")
            pending.append((1, server.wrap(answer)))
    return out, client.new_ticket


def records(data: bytes) -> list[tuple[int, int, bytes]]:
    """Split bytes into TLS records: ``(content type, version, fragment)``."""
    out = []
    pos = 0
    while pos < len(data):
        assert pos + 5 <= len(data), "truncated record header"
        kind, version, length = data[pos], int.from_bytes(data[pos + 1 : pos + 3]), 0
        length = int.from_bytes(data[pos + 3 : pos + 5])
        fragment = data[pos + 5 : pos + 5 + length]
        assert len(fragment) == length, "truncated record"
        out.append((kind, version, fragment))
        pos += 5 + length
    return out


def handshake_messages(fragment: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(fragment):
        msg_type, length = fragment[pos], int.from_bytes(fragment[pos + 1 : pos + 4])
        body = fragment[pos + 4 : pos + 4 + length]
        assert len(body) == length
        out.append((msg_type, body))
        pos += 4 + length
    return out


def extensions(body: bytes, fixed: int) -> list[tuple[int, bytes]]:
    """The extensions of a hello whose extensions block starts at ``fixed``."""
    total = int.from_bytes(body[fixed : fixed + 2])
    assert fixed + 2 + total == len(body)
    out, pos = [], fixed + 2
    while pos < len(body):
        ext_type, length = (
            int.from_bytes(body[pos : pos + 2]),
            int.from_bytes(body[pos + 2 : pos + 4]),
        )
        out.append((ext_type, body[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    assert pos == len(body)
    return out


def client_hello_fixed(version: str) -> int:
    return 2 + 32 + 1 + 32 + 2 + 2 * len(wire.CIPHER_SUITES[version]) + 2


def der_walk(data: bytes) -> int:
    """Check that DER TLVs nest exactly (constructed types recursively); count them."""
    count, pos = 0, 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        if first < 0x80:
            length, head = first, 2
        else:
            n = first & 0x7F
            length, head = int.from_bytes(data[pos + 2 : pos + 2 + n]), 2 + n
            assert length >= 0x80, "non-minimal DER length"
        content = data[pos + head : pos + head + length]
        assert len(content) == length, "TLV overruns its parent"
        count += 1
        if tag & 0x20:
            count += der_walk(content)
        pos += head + length
    return count


# ------------------------------------------------------------- handshake bytes


@pytest.mark.parametrize(("version", "key", "resumed"), CASES)
def test_flights_encode_to_exactly_their_records(version: str, key: str, resumed: bool) -> None:
    ticket = conversation(version, key, None)[1] if resumed else None
    messages, _ = conversation(version, key, ticket, sni="shop.example.org")
    flights = [m for _, m in messages if isinstance(m, TlsHandshake)]
    assert len(flights) >= 3
    for flight in flights:
        encoded = encode(flight)
        assert isinstance(encoded, WireBytes) and encoded.size == flight.size
        data = encoded.read(0, flight.size)
        assert len(data) == flight.size
        parsed = records(data)
        assert [(k, len(f)) for k, _, f in parsed] == [
            (r.content_type, r.fragment) for r in flight.records
        ]
        for (_, record_version, fragment), record in zip(parsed, flight.records, strict=True):
            hello = bool(record.messages) and record.messages[0][0] == wire.CLIENT_HELLO
            assert record_version == (0x0301 if hello else 0x0303)
            if record.content_type == wire.CHANGE_CIPHER_SPEC:
                assert fragment == b"\x01"
            elif not record.sealed:
                found = [(t, len(b)) for t, b in handshake_messages(fragment)]
                assert found == list(record.messages)
        if flight.kind == "ClientHello":
            assert b"shop.example.org" in data


def test_hellos_agree_on_session_ids_and_tickets() -> None:
    def hello_session_id(flight: TlsHandshake) -> bytes:
        data = encode(flight).read(0, flight.size)
        (_, body), *_ = handshake_messages(records(data)[0][2])
        return body[35 : 35 + body[34]]

    for version in TLS_VERSIONS:
        first, ticket = conversation(version, "ecdsa_p256", None)
        hello, reply = first[0][1], first[1][1]
        same = hello_session_id(hello) == hello_session_id(reply)
        assert same is (version == "1.3")  # 1.3 echoes; a 1.2 server picks a new one
        again, _ = conversation(version, "ecdsa_p256", ticket)
        assert again[1][1].resumed
        assert hello_session_id(again[0][1]) == hello_session_id(again[1][1])
        # The ticket the server issued is what the client offers next time.
        issued = [m for _, m in first if isinstance(m, TlsHandshake) and m.ticket is not None]
        issued_bytes = encode(issued[0]).read(0, issued[0].size)
        offered_bytes = encode(again[0][1]).read(0, again[0][1].size)
        if version == "1.2":
            ticket_bytes = handshake_messages(records(issued_bytes)[0][2])[0][1][6:]
            assert len(ticket_bytes) == wire.TICKET_SIZE
            assert ticket_bytes in offered_bytes


HOSTNAMES = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63),
    min_size=1,
    max_size=6,
).map(".".join)


@settings(max_examples=150, deadline=None)
@given(sni=HOSTNAMES, version=st.sampled_from(TLS_VERSIONS), offer=st.booleans())
def test_client_hello_extensions_for_any_name(sni: str, version: str, offer: bool) -> None:
    ticket = Ticket("lb", 0.0, 10.0) if offer else None
    flight = build_flight("ClientHello", version, resumed=offer, sni=sni, ticket=ticket)
    data = encode(flight).read(0, flight.size)
    assert len(data) == flight.size >= 5 + 512 - 3  # padding needs 4 bytes of room
    ((msg_type, body),) = handshake_messages(records(data)[0][2])
    assert msg_type == wire.CLIENT_HELLO
    found = extensions(body, client_hello_fixed(version))
    expected = wire.client_hello_extensions(version, sni, wire.TICKET_SIZE if offer else None)
    assert [(t, len(b)) for t, b in found] == list(expected)
    server_name = dict(found)[wire.EXT_SERVER_NAME]
    assert server_name[5:] == sni.encode()


@pytest.mark.parametrize("key", KEY_TYPES)
def test_certificates_are_der_of_exactly_the_size(key: str) -> None:
    sizes = [*range(900, 1000), *range(1290, 1310), 1400, 2047, 4100, 9000]
    for size in sizes:
        der = certificate(size, "www.example.com", "lbsim CA", key, key, seed=b"x")
        assert len(der) == size
        assert der_walk(der) > 30
    with pytest.raises(ValueError, match="smallest"):
        certificate(100, "www.example.com", "lbsim CA", key, key)


# ------------------------------------------------------------ data records


@pytest.mark.parametrize("version", TLS_VERSIONS)
@pytest.mark.parametrize("nbytes", [1, 16384, 16385, 100_000])
def test_application_data_is_records_of_at_most_16_kib(nbytes: int, version: str) -> None:
    data = TlsData(request("r-9"), nbytes + record_overhead(nbytes, version), version)
    encoded = encode(data)
    assert isinstance(encoded, SealedRecords) and encoded.size == data.size
    parsed = records(encoded.read(0, data.size))
    overhead = wire.per_record_overhead(version)
    assert [k for k, _, _ in parsed] == [23] * -(-nbytes // 16384)
    assert {v for _, v, _ in parsed} == {0x0303}
    assert sum(len(f) + 5 - overhead for _, _, f in parsed) == nbytes
    assert all(len(f) <= 16384 + overhead - 5 for _, _, f in parsed)


@settings(max_examples=200, deadline=None)
@given(
    nbytes=st.integers(1, 120_000),
    version=st.sampled_from(TLS_VERSIONS),
    cuts=st.lists(st.floats(0, 1), max_size=12),
)
def test_any_range_of_application_data_reads_the_same_bytes(
    nbytes: int, version: str, cuts: list[float]
) -> None:
    data = TlsData(request("r-7"), nbytes + record_overhead(nbytes, version), version)
    encoded = encode(data)
    whole = encoded.read(0, data.size)
    points = sorted({0, data.size, *(int(c * data.size) for c in cuts)})
    pieces = [encoded.read(a, b) for a, b in itertools.pairwise(points)]
    assert b"".join(pieces) == whole
    assert encode(data).read(0, data.size) == whole  # a pure function of the message


def test_tls_messages_in_a_byte_stream() -> None:
    messages, _ = conversation("1.3", "rsa2048", None)
    stream = ByteStream()
    end = 0
    expected = []
    for direction, message in messages:
        if direction == 1:
            end += message.size
            stream.mark(end, message)
            expected.append(encode(message).read(0, message.size))
    assert stream.read(0, end) == b"".join(expected)
    assert stream.read(100, 5000) == b"".join(expected)[100:5000]


def test_connection_limits_look_inside_tls_records(tmp_path: Path) -> None:
    """A kept client connection's requests mark the proxy's upstream exchanges, TLS or not."""
    sc = scenario(balancers=[{"name": "l7", "layer": 7, "algorithm": "round_robin"}])
    cap = VariantCapture(sc, "l7", tmp_path, CaptureLimits(connections=1))
    try:
        client_side, backend_side = cap._sides
        req = request("c-0-1", 400, 1000)
        syn = Segment(1, VIP, 40000, 443, 0, 0, SYN, 65535, 0)
        front = _Conn(1, syn, _KEEP)
        sealed = TlsData(req, 422, "1.3")
        cap._marks(front, 0, 0, ((422, sealed),), client_side)
        assert cap._wanted == {"c-0-1"}
        upstream = _Conn(1, syn._replace(src=LB_INSIDE), _PENDING)
        cap._marks(upstream, 0, 100, ((422, sealed),), backend_side)
        answer = TlsData(req.respond(200, 1000, "web-1"), 1022, "1.3")
        cap._marks(upstream, 1, 0, ((1022, answer),), backend_side)
        assert upstream.ranges == ([(100, 522)], [(0, 1022)])
    finally:
        cap.discard()


# ------------------------------------------------------------------ tshark

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(
    TSHARK is None and not os.environ.get("LBSIM_REQUIRE_TSHARK"),
    reason="tshark is not installed (Debian: apt-get install tshark)",
)
MSS = 1448
CLIENT_IP = (100 << 24) | (64 << 16) | 7
#: One connection per case; the resumed ones offer the ticket of the one before.
CAPTURE_CASES = [(v, k, r) for v in TLS_VERSIONS for k in KEY_TYPES for r in (False, True)]


class Connection:
    """One synthetic TCP connection from the client to port 443, written frame by frame."""

    def __init__(self, writer: PcapWriter, index: int, clock: list[float]) -> None:
        port = 40000 + index
        self.writer = writer
        self.clock = clock
        self.ends = [(CLIENT_IP, port, VIP, 443), (VIP, 443, CLIENT_IP, port)]
        self.isn = [1000 + index * 7919, 3_000_000_000 + index * 104729]
        self.sent = [0, 0]
        self.streams = [ByteStream(), ByteStream()]

    def frame(self, d: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> None:
        """One segment from side ``d``; ``seq`` and ``ack`` relative to the ISNs."""
        self.clock[0] += 0.0001
        src, sport, dst, dport = self.ends[d]
        seq = (self.isn[d] + seq) & 0xFFFFFFFF
        ack = (self.isn[1 - d] + ack) & 0xFFFFFFFF if flags & ACK else 0
        mss = 1460 if flags & SYN else 0
        frame = tcp_frame(
            mac_for(src), mac_for(dst), src, dst, sport, dport, seq, ack, flags, 65535, payload,
            mss=mss,
        )  # fmt: skip
        self.writer.write(self.clock[0], frame)

    def run(self, messages: list[tuple[int, Any]]) -> None:
        """Handshake, the messages in order (each acknowledged), and a close."""
        sent = self.sent
        self.frame(0, 0, 0, SYN)
        self.frame(1, 0, 1, SYN | ACK)
        self.frame(0, 1, 1, ACK)
        for d, message in messages:
            start = sent[d]
            sent[d] += message.size
            self.streams[d].mark(sent[d], message)
            for a in range(start, sent[d], MSS):
                b = min(sent[d], a + MSS)
                push = PSH if b == sent[d] else 0
                payload = self.streams[d].read(a, b)
                self.frame(d, 1 + a, 1 + sent[1 - d], ACK | push, payload)
            self.frame(1 - d, 1 + sent[1 - d], 1 + sent[d], ACK)
        self.frame(0, 1 + sent[0], 1 + sent[1], FIN | ACK)
        self.frame(1, 1 + sent[1], 2 + sent[0], FIN | ACK)
        self.frame(0, 2 + sent[0], 2 + sent[1], ACK)


def write_capture(path: Path) -> list[tuple[str, str, bool, str, list[tuple[int, Any]]]]:
    """A pcap of one TCP connection to port 443 per case, carrying its TLS messages.

    Returns:
        Per connection (tcp.stream order): version, key, resumed, SNI, messages.
    """
    done = []
    ticket = None
    clock = [0.0]
    with open(path, "wb") as file:
        writer = PcapWriter(file)
        for index, (version, key, resumed) in enumerate(CAPTURE_CASES):
            sni = f"site{index}.example.com"
            offer = ticket if resumed else None
            messages, ticket = conversation(version, key, offer, sni=sni, rid=f"r-{index}")
            done.append((version, key, resumed, sni, messages))
            Connection(writer, index, clock).run(messages)
    return done


FIELDS = (
    "tcp.stream",
    "tcp.srcport",
    "tls.record.content_type",
    "tls.record.opaque_type",
    "tls.handshake.type",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions.supported_version",
    "x509ce.dNSName",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.message",
)
WARNING = 0x00600000


@pytest.fixture(scope="module")
def decoded(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Any], list[dict[str, list[str]]]]:
    if TSHARK is None:
        pytest.fail("LBSIM_REQUIRE_TSHARK is set but tshark is not installed")
    path = tmp_path_factory.mktemp("tls") / "tls.pcap"
    cases = write_capture(path)
    command = [TSHARK, "-r", str(path), "-n", "-o", "tcp.check_checksum:TRUE", "-T", "fields"]
    command += ["-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t"]
    for name in FIELDS:
        command += ["-e", name]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    frames = []
    for line in run.stdout.splitlines():
        values = line.split("\t")
        assert len(values) == len(FIELDS), line
        frames.append(
            {k: [x for x in v.split(",") if x] for k, v in zip(FIELDS, values, strict=True)}
        )
    return cases, frames


def expected_records(
    version: str, messages: list[tuple[int, Any]], direction: int
) -> tuple[list[int], int]:
    """Record content types tshark shows in one direction, and the number of records
    it shows as opaque (TLS 1.3 seals everything after the ServerHello as type 23)."""
    shown, opaque = [], 0
    for d, message in messages:
        if d != direction:
            continue
        if isinstance(message, TlsHandshake):
            types = [r.content_type for r in message.records]
        else:
            types = [23] * -(-message.inner.size // 16384)
        for kind in types:
            if version == "1.3" and kind == wire.APPLICATION_DATA:
                opaque += 1
            else:
                shown.append(kind)
    return shown, opaque


@needs_tshark
def test_tshark_decodes_every_record_without_errors(decoded: Any) -> None:
    cases, frames = decoded
    assert not [f for f in frames if f["_ws.malformed"]]
    loud = [
        m
        for f in frames
        for s, m in zip(f["_ws.expert.severity"], f["_ws.expert.message"], strict=False)
        if int(s) >= WARNING
    ]
    assert not loud
    per: dict[tuple[int, int], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for f in frames:
        direction = 1 if f["tcp.srcport"] == ["443"] else 0
        for name in FIELDS[2:8]:
            per[int(f["tcp.stream"][0]), direction][name] += f[name]
    assert {stream for stream, _ in per} == set(range(len(cases)))
    for stream, (version, _, resumed, sni, messages) in enumerate(cases):
        client, server = per[stream, 0], per[stream, 1]
        for direction, seen in ((0, client), (1, server)):
            shown, opaque = expected_records(version, messages, direction)
            assert [int(x) for x in seen["tls.record.content_type"]] == shown, (stream, direction)
            assert len(seen["tls.record.opaque_type"]) == opaque, (stream, direction)
            handshakes = [
                t
                for d, m in messages
                if d == direction and isinstance(m, TlsHandshake)
                for r in m.records
                if not r.sealed
                for t, _ in r.messages
            ]
            assert [int(x) for x in seen["tls.handshake.type"]] == handshakes, (stream, direction)
        assert client["tls.handshake.extensions_server_name"] == [sni]
        if version == "1.3":
            assert server["tls.handshake.extensions.supported_version"] == ["0x0304"]
        # A TLS 1.2 full handshake shows the certificate, issued to the SNI.
        expected_names = [sni] if version == "1.2" and not resumed else []
        assert server["x509ce.dNSName"] == expected_names


@needs_tshark
def test_capture_has_the_expected_record_counts(decoded: Any) -> None:
    """The numbers a student would count in Wireshark, for the first two connections."""
    cases, frames = decoded
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in frames:
        stream = int(f["tcp.stream"][0])
        for value in f["tls.record.content_type"] + f["tls.record.opaque_type"]:
            counts[stream][value] += 1
    # TLS 1.2 full, RSA: ClientHello; ServerHello, Certificate, ServerKeyExchange,
    # ServerHelloDone; ClientKeyExchange; NewSessionTicket; two encrypted Finished:
    # 8 handshake records, 2 CCS, and 1 request + 3 response records (40 000 bytes).
    assert dict(counts[0]) == {"22": 9, "20": 2, "23": 4}
    # TLS 1.2 resumed: ClientHello, ServerHello, two Finished; 2 CCS.
    assert dict(counts[1]) == {"22": 4, "20": 2, "23": 4}
    # TLS 1.3 full: ClientHello and ServerHello in the clear, 2 CCS, then sealed:
    # EE, Certificate, CertificateVerify, Finished, client Finished, NewSessionTicket,
    # and the 4 data records.
    assert dict(counts[4]) == {"22": 2, "20": 2, "23": 10}
    assert cases[4][:3] == ("1.3", "rsa2048", False)


def test_a_response_to_no_request_still_encodes() -> None:
    """A balancer's refusal of a request it never finished reading (request None)."""
    refusal = HttpResponse(None, 413, 200, "lb")
    data = encode(refusal).read(0, 200)
    assert len(data) == 200
    assert data.startswith(b"HTTP/1.1 413 Content Too Large\r\nServer: lb\r\n")
    assert b"X-Request-Id" not in data and b"Content-Length: " in data
    sealed = TlsData(refusal, 222, "1.3")
    assert len(encode(sealed).read(0, 222)) == 222
