"""Capture building blocks without a simulation: payload bytes, frames, pcap, limits."""

from __future__ import annotations

import io
import itertools
import math
import re

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbsim.app.http import HttpRequest, HttpResponse
from lbsim.capture.limits import CaptureLimits, client_addresses, host_addresses, parse_window
from lbsim.capture.payload import (
    UNKNOWN,
    ByteStream,
    Filler,
    encode,
    encode_request,
    encode_response,
    register_encoder,
)
from lbsim.capture.pcap import PcapWriter, checksum, mac_for, read_pcap, tcp_frame
from lbsim.net.addresses import ip_from_str
from lbsim.net.segment import ACK, PSH, SYN
from scenarios import scenario

#: Below these sizes a message cannot hold its shortest head (module docstring).
MIN_REQUEST = 60
MIN_RESPONSE = 60


def request(size: int, method: str = "GET", path: str = "/pictures/17") -> HttpRequest:
    return HttpRequest("browsers-3-17", method, path, size, 1000, 0.5)


def parse_http(data: bytes) -> tuple[list[bytes], bytes]:
    """Split one HTTP/1.1 message into head lines and body, checking Content-Length."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, data[:80]
    lines = head.split(b"\r\n")
    length = [int(v) for v in re.findall(rb"\r\nContent-Length: (\d+)", head + b"\r\n")]
    assert len(body) == (length[0] if length else 0)
    return lines, body


# ------------------------------------------------------------------ encoders


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(MIN_REQUEST, 40_000),
    method=st.sampled_from(["GET", "POST", "HEAD", "DELETE", "PUT"]),
)
def test_request_is_exactly_its_size_and_parses(size: int, method: str) -> None:
    req = request(size, method)
    data = encode_request(req).read(0, size)
    assert len(data) == size
    lines, body = parse_http(data)
    assert lines[0] == f"{method} /pictures/17 HTTP/1.1".encode()
    if size >= 200:
        assert b"Host: www.example.com" in lines
        assert b"X-Request-Id: browsers-3-17" in lines
    if method in ("GET", "HEAD", "DELETE") and size <= 8192:
        assert body == b""  # brought to size by headers, as browsers' requests are


@pytest.mark.parametrize("size", [200, 350, 1200, 20_000])
def test_request_names_each_header_once_and_keeps_the_forwarded_for(size: int) -> None:
    headers = (("User-Agent", "Mozilla/5.0"), ("X-Forwarded-For", "100.64.0.7, 10.0.0.1"))
    req = HttpRequest("browsers-3-17", "GET", "/a", size, 100, 0.5, headers=headers)
    data = encode_request(req).read(0, size)
    assert len(data) == size
    lines, _ = parse_http(data)
    names = [line.split(b":", 1)[0].lower() for line in lines[1:]]
    assert len(names) == len(set(names))  # no header written twice
    assert b"User-Agent: Mozilla/5.0" in lines  # the client's own, not the default
    assert b"X-Forwarded-For: 100.64.0.7, 10.0.0.1" in lines


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(MIN_RESPONSE, 400_000),
    status=st.sampled_from([200, 404, 502, 503, 204]),
    method=st.sampled_from(["GET", "HEAD"]),
)
def test_response_is_exactly_its_size_and_parses(size: int, status: int, method: str) -> None:
    resp = HttpResponse(request(400, method, "/index.html"), status, size, "web-2")
    data = encode_response(resp).read(0, size)
    assert len(data) == size
    lines, body = parse_http(data)
    assert lines[0].startswith(f"HTTP/1.1 {status} ".encode())
    if method == "GET" and status != 204:
        assert b"Content-Length" in b"\r\n".join(lines)
    else:
        assert body == b""
    if size >= 200:
        assert b"Server: web-2" in lines[1]
        assert lines.count(b"X-Request-Id: browsers-3-17") == 1


def test_response_layout_and_content_type() -> None:
    html = encode(HttpResponse(request(400, path="/index.html"), 200, 20_000, "web-1"))
    head = html.read(0, 200).split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head == [
        b"HTTP/1.1 200 OK",
        b"Server: web-1",
        b"Content-Type: text/html",
        b"Content-Length: 19889",
        b"X-Request-Id: browsers-3-17",
    ]
    picture = encode(HttpResponse(request(400), 200, 20_000, "web-1"))
    assert b"Content-Type: application/octet-stream" in picture.read(0, 200)


def test_content_length_just_below_a_power_of_ten_stays_exact() -> None:
    # 99 and 100 body bytes need 2 and 3 digits: some sizes fit neither exactly.
    for size in range(150, 260):
        data = encode(HttpResponse(request(400), 200, size, "web-1")).read(0, size)
        lines, _ = parse_http(data)
        assert not any(re.search(rb": 0\d", line) for line in lines)


def test_tiny_messages_are_cut_to_their_size() -> None:
    for size in range(1, 80):
        assert len(encode_request(request(size)).read(0, size)) == size
        resp = HttpResponse(request(400), 200, size, "web-1")
        assert len(encode_response(resp).read(0, size)) == size


def test_unregistered_message_types_get_a_label_and_filler() -> None:
    class Ping:
        size = 40
        request_id = "db-1-2"

    data = encode(Ping()).read(0, 40)
    assert data.startswith(b"lbsim Ping db-1-2\n") and len(data) == 40


def test_encoders_are_registered_per_type() -> None:
    class Record:
        size = 10

    class Fixed:
        size = 10

        def read(self, start: int, stop: int) -> bytes:
            return b"0123456789"[start:stop]

    register_encoder(Record, lambda message: Fixed())
    assert encode(Record()).read(2, 5) == b"234"


@given(start=st.integers(0, 50_000), n=st.integers(0, 20_000))
def test_filler_slices_agree_with_the_repetition(start: int, n: int) -> None:
    filler = Filler(b"abc\n", repeat=3)
    whole = filler.pattern * ((start + n) // len(filler.pattern) + 2)
    assert filler.read(start, start + n) == whole[start : start + n]


# --------------------------------------------------------------- byte streams


def marks_of(sizes: list[int]) -> tuple[list[tuple[int, HttpRequest]], bytes]:
    """Marks of requests of these sizes back to back, and the bytes they make."""
    marks = []
    whole = b""
    for k, size in enumerate(sizes):
        req = HttpRequest(f"c-0-{k}", "GET", f"/p/{k}", size, 100, 0.5)
        whole += encode(req).read(0, size)
        marks.append((len(whole), req))
    return marks, whole


def stream_of(sizes: list[int]) -> tuple[ByteStream, bytes]:
    """A stream of requests of these sizes, and the bytes it must produce."""
    stream = ByteStream()
    marks, whole = marks_of(sizes)
    for end, req in marks:
        stream.mark(end, req)
    return stream, whole


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(MIN_REQUEST, 3000), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 20_000), max_size=8),
)
def test_stream_ranges_concatenate_to_the_messages(sizes: list[int], cuts: list[int]) -> None:
    stream, whole = stream_of(sizes)
    points = sorted({0, len(whole), *(c % (len(whole) + 1) for c in cuts)})
    pieces = [stream.read(a, b) for a, b in itertools.pairwise(points)]
    assert b"".join(pieces) == whole
    # A retransmission asks again, out of order: same bytes.
    for a, b in reversed(list(itertools.pairwise(points))):
        assert stream.read(a, b) == whole[a:b]


def test_marks_may_repeat_and_arrive_out_of_order() -> None:
    marks, whole = marks_of([300, 500, 200])
    shuffled = ByteStream()
    for i in (2, 0, 1, 0):
        shuffled.mark(*marks[i])
    assert len(shuffled) == 3
    assert shuffled.read(0, len(whole)) == whole


def test_bytes_without_a_known_message_are_filler() -> None:
    stream, _ = stream_of([300])
    tail = stream.read(300, 400)
    assert tail == UNKNOWN.read(300, 400)
    gap = ByteStream()
    req = HttpRequest("c-0-0", "GET", "/", 100, 100, 0.5)
    gap.mark(250, req)  # bytes 0-149 belong to a message never marked
    data = gap.read(0, 250)
    assert data[:150] == UNKNOWN.read(0, 150)
    assert data[150:] == encode(req).read(0, 100)


# -------------------------------------------------------------- frames, pcap


@given(data=st.binary(max_size=3000))
def test_checksum_matches_dpkt(data: bytes) -> None:
    even = data[: len(data) & ~1]
    assert checksum(even, data[len(even) :]) == dpkt.in_cksum(data)


def test_frames_parse_with_dpkt_and_their_checksums_verify() -> None:
    src, dst = ip_from_str("100.64.0.1"), ip_from_str("203.0.113.10")
    syn = tcp_frame(mac_for(src), mac_for(dst), src, dst, 32768, 80, 7, 0, SYN, 65535, b"",
                    mss=1460, wscale=7, ip_id=99)  # fmt: skip
    data = tcp_frame(mac_for(src), mac_for(dst), src, dst, 32768, 80, 8, 5, PSH | ACK, 32768,
                     b"GET / HTTP/1.1\r\n\r\nx", ttl=63)  # fmt: skip
    for frame, ip_len in ((syn, 48), (data, 59)):
        eth = dpkt.ethernet.Ethernet(frame)
        ip = eth.data
        assert len(frame) == 14 + ip_len and ip.len == ip_len
        assert ip.df and not ip.mf and ip.p == 6
        sums = (ip.sum, ip.data.sum)
        ip.sum = ip.data.sum = 0
        assert sums == (dpkt.ethernet.Ethernet(bytes(eth)).data.sum, dpkt.ip.IP(bytes(ip)).data.sum)
    tcp = dpkt.ethernet.Ethernet(syn).data.data
    assert dpkt.tcp.parse_opts(tcp.opts) == [(2, b"\x05\xb4"), (1, b""), (3, b"\x07")]
    assert dpkt.ethernet.Ethernet(syn).src == b"\x02\x00\x64\x40\x00\x01"
    assert dpkt.ethernet.Ethernet(data).data.ttl == 63


def test_pcap_timestamps_are_nanoseconds_and_never_overflow(tmp_path: object) -> None:
    buffer = io.BytesIO()
    writer = PcapWriter(buffer)
    frame = tcp_frame(mac_for(1), mac_for(2), 1, 2, 1, 2, 0, 0, ACK, 1, b"")
    for t in (0.0, 0.123456789, 1.9999999996, 7.5):
        writer.write(t, frame)
    raw = buffer.getvalue()
    assert raw[:4] == b"\x4d\x3c\xb2\xa1"  # nanosecond magic, little endian
    records = []
    offset = 24
    while offset < len(raw):
        sec, nsec, caplen, length = (
            int.from_bytes(raw[offset + i : offset + i + 4], "little") for i in (0, 4, 8, 12)
        )
        records.append((sec, nsec))
        assert caplen == length == len(frame)
        offset += 16 + caplen
    assert records == [(0, 0), (0, 123456789), (2, 0), (7, 500000000)]
    path = tmp_path / "x.pcap"  # type: ignore[operator]
    path.write_bytes(raw)
    assert [p.time for p in read_pcap(path)] == pytest.approx([0.0, 0.123456789, 2.0, 7.5])


# --------------------------------------------------------------------- limits


def test_window_parsing() -> None:
    assert parse_window("10:12") == (10.0, 12.0)
    assert parse_window("500ms:1.5s") == (0.5, 1.5)
    assert parse_window("30s:") == (30.0, math.inf)
    assert parse_window(":2s") == (0.0, 2.0)
    for bad in ("10", "2:1", "1:2:3", "abc:2", "1x:2"):
        with pytest.raises(ValueError, match="capture window"):
            parse_window(bad)
    with pytest.raises(ValueError):
        CaptureLimits(connections=0)


def test_client_names_resolve_to_addresses() -> None:
    sc = scenario(
        clients=[
            {"name": "a", "count": 2, "requests": [{"path": "/", "response": "1KB"}]},
            {"name": "b", "count": 3, "hosts": 2, "requests": [{"path": "/", "response": "1KB"}]},
        ]
    )
    assert client_addresses(sc, "b-h1") == {ip_from_str("100.64.0.4")}
    assert client_addresses(sc, "b") == {ip_from_str("100.64.0.3"), ip_from_str("100.64.0.4")}
    assert client_addresses(sc, "100.64.0.2") == {ip_from_str("100.64.0.2")}
    for bad in ("c", "a-h9", "100.64.0.9"):
        with pytest.raises(ValueError, match="no such client"):
            client_addresses(sc, bad)
    assert host_addresses(sc)["web-1"] == ip_from_str("10.0.1.1")
