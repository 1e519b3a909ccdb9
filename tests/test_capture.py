"""Packet captures agree with the simulation (no tshark needed).

Each capture is compared with the segment trace of the same run: the same packets,
in the same order, with the same header fields, stamped at the balancer (arrival
time for packets coming in, start on the wire for packets going out). Payloads are
the application messages back to back; retransmissions resend the same bytes. The
limits keep what they promise, and ``lbsim run --pcap`` puts the files into the
output directory.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lbsim.capture import CaptureLimits, capture_variant, read_pcap
from lbsim.capture.capture import SIDES
from lbsim.capture.limits import host_addresses
from lbsim.capture.pcap import CapturedPacket, mac_for
from lbsim.cli import main
from lbsim.net.addresses import LB_INSIDE, VIP, ip_from_str, ip_to_str
from lbsim.net.link import wire_bytes
from lbsim.net.segment import flag_names
from lbsim.records import SegmentRecord
from scenarios import scenario

SCENARIO: dict[str, Any] = {
    "duration": "500ms",
    "backends": [{"group": "web", "count": 2, "workers": 2, "service_time": "exp(5ms)"}],
    "clients": [
        {
            "name": "c",
            "count": 3,
            "requests_per_connection": 3,
            "think_time": "exp(20ms)",
            "requests": [
                {"path": "/index.html", "size": "400B", "response": "30KB", "weight": 3},
                {"method": "POST", "path": "/upload", "size": "5KB", "response": "300B"},
            ],
        }
    ],
    "balancers": [
        {"name": "l4", "layer": 4, "algorithm": "round_robin"},
        {"name": "l7", "layer": 7, "algorithm": "round_robin"},
    ],
}
SMALL = scenario(**SCENARIO)
#: The same workload through a client link whose queue overflows: retransmissions.
LOSSY = scenario(
    **{
        **SCENARIO,
        "network": {
            "client_link": {"latency": "10ms", "bandwidth": "20Mbps", "queue": "6KB"},
            "backend_link": {"latency": "1ms", "bandwidth": "10Gbps"},
        },
    }
)
HOSTS = host_addresses(SMALL)


@cache
def captured(
    which: str, variant: str, limits: CaptureLimits | None = None
) -> tuple[Any, dict[str, list[CapturedPacket]]]:
    """Run a variant with a capture (once per process); the run and packets per side."""
    import tempfile

    sc = LOSSY if which == "lossy" else SMALL
    with tempfile.TemporaryDirectory() as tmp:
        run, files = capture_variant(sc, variant, tmp, limits=limits, trace_segments=True)
        assert sorted(p.name for p in Path(tmp).iterdir()) == sorted(
            [f"{variant}-backend.pcap", f"{variant}-client.pcap"]
        ), "spool files must be gone"
        packets = {side: list(read_pcap(path)) for side, path in zip(SIDES, files, strict=True)}
    return run, packets


def inbound(record: SegmentRecord) -> bool:
    """Whether the record's link leads from a host into the balancer."""
    return record.link.rpartition(">")[0] in HOSTS


def stamped(sc: Any, records: list[SegmentRecord], side: str) -> list[tuple[float, SegmentRecord]]:
    """Records of one side in capture order, with their capture times."""
    link = sc.network.client_link if side == "client" else sc.network.backend_link
    out = []
    for k, r in enumerate(records):
        if r.side != side or r.dropped:
            continue
        t = r.time
        if inbound(r):
            ip_len = r.payload + (48 if "SYN" in r.flags else 40)
            t = t + wire_bytes(ip_len) * (8.0 / link.bandwidth) + link.latency
        out.append((t, k, r))
    out.sort(key=lambda item: (item[0], item[1]))
    return [(t, r) for t, _, r in out]


def as_fields(p: CapturedPacket) -> tuple[Any, ...]:
    tcp = p.tcp
    return (
        ip_to_str(int.from_bytes(p.ip.src, "big")),
        ip_to_str(int.from_bytes(p.ip.dst, "big")),
        tcp.sport,
        tcp.dport,
        tcp.seq,
        tcp.ack,
        flag_names(tcp.flags),
        tcp.win,
        len(tcp.data),
    )


def record_fields(r: SegmentRecord) -> tuple[Any, ...]:
    return (r.src, r.dst, r.sport, r.dport, r.seq, r.ack, r.flags, r.window, r.payload)


@pytest.mark.parametrize("which", ["small", "lossy"])
@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_capture_is_the_segment_trace(which: str, variant: str) -> None:
    sc = LOSSY if which == "lossy" else SMALL
    run, packets = captured(which, variant)
    for side in ("client", "backend"):
        expected = stamped(sc, run.recorder.segments, side)
        got = packets[side]
        assert len(got) == len(expected) > 0
        assert [as_fields(p) for p in got] == [record_fields(r) for _, r in expected]
        assert [p.time for p in got] == pytest.approx([t for t, _ in expected], abs=1e-9, rel=0)
    if which == "lossy":
        assert any(r.dropped for r in run.recorder.segments), "the lossy run must drop"


def directions(packets: list[CapturedPacket]) -> dict[tuple[Any, ...], dict[int, bytes]]:
    """Payload bytes per (src, sport, dst, dport), by offset from the SYN."""
    isn: dict[tuple[Any, ...], int] = {}
    data: dict[tuple[Any, ...], dict[int, bytes]] = defaultdict(dict)
    for p in packets:
        tcp = p.tcp
        key = (p.ip.src, tcp.sport, p.ip.dst, tcp.dport)
        if tcp.flags & 0x02:
            isn[key] = tcp.seq
        if tcp.data:
            offset = (tcp.seq - isn[key] - 1) % 2**32
            for k, byte in enumerate(tcp.data):
                # A retransmission must resend exactly the same bytes.
                assert data[key].setdefault(offset + k, byte) == byte
    return {k: bytes(v[i] for i in range(len(v))) for k, v in data.items()}


def messages(stream: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Split a direction's bytes into HTTP messages: (start line, X-Request-Id)."""
    pos = 0
    while pos < len(stream):
        end = stream.index(b"\r\n\r\n", pos)
        head = stream[pos:end]
        length = re.search(rb"\r\nContent-Length: (\d+)", head)
        rid = re.search(rb"\r\nX-Request-Id: (\S+)", head)
        assert rid is not None, head[:100]
        yield head.split(b"\r\n")[0], rid.group(1)
        pos = end + 4 + (int(length.group(1)) if length else 0)


@pytest.mark.parametrize("which", ["small", "lossy"])
@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_payloads_are_the_requests_and_responses_back_to_back(which: str, variant: str) -> None:
    run, packets = captured(which, variant)
    by_connection: dict[str, list[Any]] = defaultdict(list)
    for req in run.recorder.requests:
        by_connection[req.connection].append(req)
    conns = {c.src: c.connection for c in run.recorder.connections if c.side == "client"}
    streams = directions(packets["client"])
    checked = 0
    for (src, sport, dst, _), data in streams.items():
        if dst == VIP.to_bytes(4, "big"):
            client = f"{ip_to_str(int.from_bytes(src, 'big'))}:{sport}"
            reqs = sorted(by_connection[conns[client]], key=lambda r: r.index_on_connection)
            sent = [r for r in reqs if r.t_backend_first_byte is not None or r.status]
            got = list(messages(data))
            assert [rid.decode() for _, rid in got] == [r.request_id for r in sent]
            assert [line.decode() for line, _ in got] == [
                f"{r.method} {r.path} HTTP/1.1" for r in sent
            ]
            checked += 1
        else:
            for line, _ in messages(data):
                assert line.startswith(b"HTTP/1.1 200 OK")
    assert checked == len(conns)


def test_nat_keeps_the_ip_id_and_the_balancer_routes() -> None:
    _, packets = captured("small", "l4")
    client_ids = {}
    for p in packets["client"]:
        tcp = p.tcp
        if p.ip.dst == VIP.to_bytes(4, "big"):
            client_ids[(tcp.sport, tcp.seq, tcp.ack, tcp.flags, len(tcp.data))] = p.ip.id
            assert p.ip.ttl == 64 and p.dst_mac == mac_for(VIP)
        else:
            assert p.ip.ttl == 63 and p.src_mac == mac_for(VIP)  # forwarded by the balancer
    matched = 0
    for p in packets["backend"]:
        tcp = p.tcp
        if tcp.dport == 8080:
            key = (tcp.sport, tcp.seq, tcp.ack, tcp.flags, len(tcp.data))
            assert client_ids[key] == p.ip.id
            assert p.ip.ttl == 63 and p.src_mac == mac_for(LB_INSIDE)
            assert p.dst_mac == mac_for(int.from_bytes(p.ip.dst, "big"))
            matched += 1
    assert matched > 20


def client_ports(packets: list[CapturedPacket]) -> list[int]:
    """Client ports in the order their SYN appears."""
    return [p.tcp.sport for p in packets if p.tcp.flags & 0x12 == 0x02]


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_connection_limit_keeps_the_first_connections(variant: str) -> None:
    _, full = captured("small", variant)
    _, kept = captured("small", variant, CaptureLimits(connections=2))
    first = client_ports(full["client"])[:2]
    assert client_ports(kept["client"]) == first
    assert {p.tcp.sport if p.tcp.dport == 80 else p.tcp.dport for p in kept["client"]} == set(first)
    if variant == "l4":
        assert client_ports(kept["backend"]) == first
        return
    # L7: only the exchanges of the kept connections' requests on the upstream side.
    ids = {rid for data in directions(kept["client"]).values() for _, rid in messages(data)}
    upstream = set()
    for p in kept["backend"]:
        upstream.update(re.findall(rb"X-Request-Id: (\S+)", bytes(p.tcp.data)))
    assert upstream == ids and len(ids) == 6
    assert len(kept["backend"]) < len(full["backend"])


def test_client_and_window_limits() -> None:
    _, full = captured("small", "l4")
    _, one = captured("small", "l4", CaptureLimits(client="c-h1"))
    host = ip_from_str("100.64.0.2").to_bytes(4, "big")
    for side in ("client", "backend"):
        assert one[side] and all(host in (p.ip.src, p.ip.dst) for p in one[side])
        assert len(one[side]) == sum(host in (p.ip.src, p.ip.dst) for p in full[side])
    _, window = captured("small", "l4", CaptureLimits(window=(0.1, 0.2)))
    for side in ("client", "backend"):
        inside = [as_fields(p) for p in full[side] if 0.1 <= p.time < 0.2]
        assert [as_fields(p) for p in window[side]] == inside and inside


# ----------------------------------------------------------------------- CLI

CLI_SCENARIO = """\
name: capture
seed: 3
duration: 300ms
network:
  client_link:  {latency: 5ms, bandwidth: 100Mbps}
  backend_link: {latency: 0.5ms, bandwidth: 10Gbps}
backends:
  - {group: web, count: 2, workers: 2, service_time: exp(2ms)}
clients:
  - name: browsers
    count: 2
    requests_per_connection: 2
    think_time: exp(20ms)
    requests:
      - {path: /index.html, size: 400B, response: 5KB}
balancers:
  - {name: l4, layer: 4, algorithm: round_robin}
  - {name: l7, layer: 7, algorithm: round_robin}
"""


def test_cli_writes_captures_into_the_output_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "capture.yaml"
    path.write_text(CLI_SCENARIO)
    out = tmp_path / "out" / "run"
    args = ["run", str(path), "--out", str(out), "--no-figures"]
    assert main([*args, "--pcap-connections", "1"]) == 0
    assert "pcap/" in capsys.readouterr().out
    names = sorted(p.name for p in (out / "pcap").iterdir())
    assert names == ["l4-backend.pcap", "l4-client.pcap", "l7-backend.pcap", "l7-client.pcap"]
    assert len(client_ports(list(read_pcap(out / "pcap" / "l4-client.pcap")))) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["run"]  # no leftovers
    # Running again into the same directory replaces it; without --pcap, no pcap/.
    assert main(args) == 0
    assert not (out / "pcap").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--pcap-window", "5:1"], "capture window"),
        (["--pcap-window", "soon:"], "capture window"),
        (["--pcap-client", "nobody"], 'capture client "nobody"'),
        (["--pcap-connections", "0"], "--pcap-connections"),
    ],
)
def test_cli_rejects_bad_capture_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    path = tmp_path / "capture.yaml"
    path.write_text(CLI_SCENARIO)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbsim: error:") and message in err and "Traceback" not in err
    assert not out.exists()


def test_extra_outputs_are_part_of_the_atomic_write(tmp_path: Path) -> None:
    from lbsim.results import build_results, write_outputs
    from lbsim.sim import run_variant

    results = build_results(SMALL, [run_variant(SMALL, "l4")])
    out = tmp_path / "out"
    write_outputs(results, out)
    before = sorted(p.name for p in out.iterdir())

    def failing(staging: Path) -> list[Path]:
        (staging / "pcap").mkdir()
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_outputs(results, out, extra=failing)
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_plain_tap_gives_the_same_bytes_every_time(tmp_path: Path) -> None:
    """The capture works as a bare ``run_variant`` tap, and is deterministic."""
    from lbsim.capture import VariantCapture
    from lbsim.sim import run_variant

    files = []
    for k in range(2):
        capture = VariantCapture(SMALL, "l7", tmp_path / str(k))
        run_variant(SMALL, "l7", taps=[capture.tap])
        files.append(capture.finish())
    for a, b in zip(*files, strict=True):
        assert a.read_bytes() == b.read_bytes()
    _, packets = captured("small", "l7")
    assert [p.frame for p in read_pcap(files[0].client)] == [p.frame for p in packets["client"]]


class FakeLink:
    """Just what the tap reads from a link."""

    def __init__(self, name: str, side: str) -> None:
        self.name, self.side = name, side
        self.bandwidth, self.latency = 1e9, 0.001


def test_a_reused_four_tuple_is_a_new_connection(tmp_path: Path) -> None:
    """The simulator gives a reused 4-tuple the same ISN: the tap must still tell."""
    from types import SimpleNamespace

    from lbsim.app.http import HttpRequest
    from lbsim.capture import VariantCapture
    from lbsim.net.segment import ACK, FIN, PSH, SYN, Segment

    clock = SimpleNamespace(now=0.0)
    capture = VariantCapture(SMALL, "l7", tmp_path)
    capture.bind(clock)
    up, down = FakeLink("c-h0>l7", "client"), FakeLink("l7>c-h0", "client")
    client, port = ip_from_str("100.64.0.1"), 40000
    sent = []
    for k in range(2):  # two connections, one after the other, same 4-tuple and ISNs
        req = HttpRequest(f"c-0-{k}", "GET", f"/page/{k}", 300, 100, 0.5)
        marks = ((300, req),)
        segments = [
            (up, Segment(client, VIP, port, 80, 1000, 0, SYN, 65535, 0, 1460, 7)),
            (down, Segment(VIP, client, 80, port, 5000, 1001, SYN | ACK, 65535, 0, 1460, 7)),
            (up, Segment(client, VIP, port, 80, 1001, 5001, ACK, 512, 0)),
            (up, Segment(client, VIP, port, 80, 1001, 5001, PSH | ACK, 512, 300, ends=marks)),
            (up, Segment(client, VIP, port, 80, 1301, 5001, FIN | ACK, 512, 0)),
        ]
        for link, seg in segments:
            clock.now += 0.01
            capture.tap(link, seg, clock.now, False)  # type: ignore[arg-type]
        sent.append(req.request_id.encode())
    files = capture.finish()
    got = [
        rid
        for p in read_pcap(files.client)
        for rid in re.findall(rb"X-Request-Id: (\S+)", bytes(p.tcp.data))
    ]
    assert got == sent
