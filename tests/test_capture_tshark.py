"""Captures read by tshark (Wireshark's command-line twin): the acceptance checks.

One ``lbsim run --pcap`` of a small loss-free scenario (L4 NAT and L7), then, for
each capture file, one tshark pass with checksum validation on, reading per frame:
the TCP stream, addresses and ports, HTTP method, URI and status, TCP analysis
flags and expert messages. Checked against the run's ``requests.csv`` and
``connections.csv``:

* tshark reads every frame, none malformed, every checksum correct;
* no TCP analysis flag at all (retransmission, out-of-order, previous segment not
  captured, duplicate ACK, ...) and no expert message at warning level or above;
* TCP streams per file equal the simulated connections on that side;
* the HTTP decoder finds every request (method, URI) and response (status) of
  ``requests.csv``;
* on the L4 NAT captures, a client port's stream goes to the VIP on the client side
  and to its backend's address on the backend side.

tshark comes from the Debian package (``.ci/run`` installs it). Without it these
tests are skipped, unless ``LBSIM_REQUIRE_TSHARK`` is set, as CI does: then they fail.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbsim.capture import read_pcap
from lbsim.cli import main
from lbsim.net.addresses import BACKEND_PORT, VIP, VIP_PORT, ip_to_str

TSHARK = shutil.which("tshark")
if TSHARK is None and not os.environ.get("LBSIM_REQUIRE_TSHARK"):
    pytest.skip(
        "tshark is not installed (Debian: apt-get install tshark); "
        "set LBSIM_REQUIRE_TSHARK=1 to make this a failure",
        allow_module_level=True,
    )

SCENARIO = """\
name: tshark
seed: 7
duration: 600ms
network:
  client_link:  {latency: 5ms, bandwidth: 100Mbps, mtu: 1500}
  backend_link: {latency: 0.2ms, bandwidth: 10Gbps, mtu: 9000}
backends:
  - {group: web, count: 2, workers: 4, service_time: exp(3ms)}
  - {group: pictures, count: 2, workers: 4, service_time: exp(5ms)}
clients:
  - name: browsers
    count: 4
    requests_per_connection: 4
    think_time: exp(30ms)
    requests:
      - {path: /index.html, weight: 4, size: 400B, response: 20KB}
      - {path: "/pictures/{n}", weight: 2, size: 350B, response: 60KB}
      - {method: POST, path: /upload, weight: 1, size: 6KB, response: 250B}
      - {method: HEAD, path: /index.html, weight: 1, size: 120B, response: 300B}
      - {path: /tiny, weight: 1, size: 64B, response: 70B}
balancers:
  - {name: l4, layer: 4, mode: nat, algorithm: round_robin}
  - name: l7
    layer: 7
    algorithm: least_request
    routes:
      - {match: {path_prefix: /pictures/}, group: pictures}
      - {group: web}
"""

FIELDS = (
    "frame.number",
    "tcp.stream",
    "ip.src",
    "ip.dst",
    "tcp.srcport",
    "tcp.dstport",
    "http.request.method",
    "http.request.uri",
    "http.response.code",
    "http.user_agent",
    "http.x_forwarded_for",
    "tcp.analysis.flags",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.message",
)
#: Expert severities (epan/proto.h): chat, note, warning, error.
WARNING = 0x00600000


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if TSHARK is None:
        pytest.fail("LBSIM_REQUIRE_TSHARK is set but tshark is not installed")
    base = tmp_path_factory.mktemp("tshark")
    path = base / "tshark.yaml"
    path.write_text(SCENARIO)
    out = base / "out"
    assert main(["run", str(path), "--out", str(out), "--pcap", "--no-figures"]) == 0
    return out


def rows(path: Path) -> list[dict[str, list[str]]]:
    """One dict per frame: field -> values (several when a frame has several)."""
    if TSHARK is None:
        pytest.fail("LBSIM_REQUIRE_TSHARK is set but tshark is not installed")
    command = [TSHARK, "-r", str(path), "-n", "-o", "tcp.check_checksum:TRUE"]
    command += ["-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "occurrence=a"]
    command += ["-E", "aggregator=\x1f", "-E", "separator=/t"]
    for name in FIELDS:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    frames = []
    for line in done.stdout.splitlines():
        values = line.split("\t")
        assert len(values) == len(FIELDS), line
        pairs = zip(FIELDS, values, strict=True)
        frames.append({k: [x for x in v.split("\x1f") if x] for k, v in pairs})
    return frames


def table(out: Path, name: str, variant: str) -> list[dict[str, str]]:
    with open(out / name, newline="") as file:
        return [r for r in csv.DictReader(file) if r["variant"] == variant]


CASES = [(v, s) for v in ("l4", "l7") for s in ("client", "backend")]


@pytest.fixture(scope="module")
def decoded(output: Path) -> dict[tuple[str, str], list[dict[str, list[str]]]]:
    return {(v, s): rows(output / "pcap" / f"{v}-{s}.pcap") for v, s in CASES}


@pytest.mark.parametrize(("variant", "side"), CASES)
def test_tshark_reads_every_packet_cleanly(
    output: Path, decoded: dict[Any, Any], variant: str, side: str
) -> None:
    frames = decoded[variant, side]
    ours = sum(1 for _ in read_pcap(output / "pcap" / f"{variant}-{side}.pcap"))
    assert len(frames) == ours > 100
    assert not [f["frame.number"] for f in frames if f["_ws.malformed"]]
    assert not [f["frame.number"] for f in frames if f["tcp.analysis.flags"]]
    loud = [
        (f["frame.number"], f["_ws.expert.message"])
        for f in frames
        if any(int(s) >= WARNING for s in f["_ws.expert.severity"])
    ]
    assert not loud  # bad checksums and malformed packets are errors, analysis warnings


@pytest.mark.parametrize(("variant", "side"), CASES)
def test_tcp_streams_are_the_simulated_connections(
    output: Path, decoded: dict[Any, Any], variant: str, side: str
) -> None:
    streams = {f["tcp.stream"][0] for f in decoded[variant, side]}
    connections = table(output, "connections.csv", variant)
    if variant == "l4":
        # NAT: the backend side carries the same connections, rewritten.
        expected = [c for c in connections if c["side"] == "client"]
    else:
        expected = [c for c in connections if c["side"] == side]
    assert len(streams) == len(expected) > 1


@pytest.mark.parametrize(("variant", "side"), CASES)
def test_http_decoder_finds_the_requests_of_requests_csv(
    output: Path, decoded: dict[Any, Any], variant: str, side: str
) -> None:
    frames = decoded[variant, side]
    requests = table(output, "requests.csv", variant)
    assert {r["outcome"] for r in requests} == {"ok"}
    methods = Counter(
        (m, u)
        for f in frames
        for m, u in zip(f["http.request.method"], f["http.request.uri"], strict=True)
    )
    assert methods == Counter((r["method"], r["path"]) for r in requests)
    statuses = Counter(c for f in frames for c in f["http.response.code"])
    assert statuses == Counter(r["status"] for r in requests)
    assert {"GET", "POST", "HEAD"} <= {m for m, _ in methods}


def test_l4_nat_shows_the_vip_on_the_client_side_and_the_backend_behind_it(
    output: Path, decoded: dict[Any, Any]
) -> None:
    def endpoints(side: str) -> dict[str, tuple[str, str]]:
        """Client address:port -> (server address, server port) of that stream."""
        found: dict[str, tuple[str, str]] = {}
        for f in decoded["l4", side]:
            if f["tcp.dstport"][0] in (str(VIP_PORT), str(BACKEND_PORT)):
                client = f"{f['ip.src'][0]}:{f['tcp.srcport'][0]}"
                server = (f["ip.dst"][0], f["tcp.dstport"][0])
                assert found.setdefault(client, server) == server
        return found

    front, back = endpoints("client"), endpoints("backend")
    assert front.keys() == back.keys() and len(front) > 1
    assert set(front.values()) == {(ip_to_str(VIP), str(VIP_PORT))}
    connections = table(output, "connections.csv", "l4")
    placed = {c["src"]: c["backend"] for c in connections if c["side"] == "client"}
    addresses = {"web-1": "10.0.1.1", "web-2": "10.0.1.2", "pictures-1": "10.0.2.1"}
    addresses["pictures-2"] = "10.0.2.2"
    for client, (address, server_port) in back.items():
        assert server_port == str(BACKEND_PORT)
        assert address == addresses[placed[client]]


ERROR = 0x00800000
#: What Wireshark says where a capture leaves out part of a connection.
GAPS = {
    "Previous segment(s) not captured (common at capture start)",
    "ACKed segment that wasn't captured (common at capture start)",
}


@pytest.mark.parametrize(
    "limits",
    [
        {"connections": 2},
        {"client": "browsers-h1"},
        {"window": (0.2, 0.3)},
    ],
    ids=["connections", "client", "window"],
)
def test_limited_captures_decode_without_errors(tmp_path: Path, limits: dict[str, Any]) -> None:
    from lbsim.capture import CaptureLimits, capture_scenario
    from lbsim.scenario import parse_scenario

    sc = parse_scenario(yaml.safe_load(SCENARIO), source="<tshark>")
    _, files = capture_scenario(sc, tmp_path, limits=CaptureLimits(**limits))
    for variant, pair in files.items():
        for side, path in zip(("client", "backend"), pair, strict=True):
            frames = rows(path)
            assert frames, (variant, side)
            assert not [f for f in frames if f["_ws.malformed"]]
            messages = {
                m
                for f in frames
                for s, m in zip(f["_ws.expert.severity"], f["_ws.expert.message"], strict=True)
                if int(s) >= WARNING
            }
            assert all(int(s) < ERROR for f in frames for s in f["_ws.expert.severity"])
            if "window" in limits or (variant == "l7" and side == "backend"):
                assert messages <= GAPS  # cut connections: gaps, nothing else
            else:
                assert not messages  # whole connections: clean


@pytest.mark.parametrize(("variant", "side"), CASES)
def test_requests_name_each_header_once_and_the_l7_backend_side_carries_xff(
    decoded: dict[Any, Any], variant: str, side: str
) -> None:
    frames = [f for f in decoded[variant, side] if f["http.request.method"]]
    assert frames
    # At most one User-Agent per request (the client's own, never a second default
    # one); the smallest requests (64 B, 120 B) have no room for it, since a capture
    # writes exactly the simulated size and drops optional headers first.
    assert all(len(f["http.user_agent"]) <= len(f["http.request.method"]) for f in frames)
    assert sum(len(f["http.user_agent"]) for f in frames) >= len(frames) // 2
    forwarded = [v for f in frames for v in f["http.x_forwarded_for"]]
    if (variant, side) == ("l7", "backend"):
        # Every request the backend receives names the client it came from (except
        # the 64 B /tiny requests: X-Forwarded-For rides inside the simulated size,
        # and 64 bytes hold only the request line and Host), and the backend's peer
        # is the proxy (ip.src), not that client.
        roomy = [f for f in frames if f["http.request.uri"] != ["/tiny"]]
        assert all(len(f["http.x_forwarded_for"]) == len(f["http.request.method"]) for f in roomy)
        assert all(v.startswith("100.64.") for v in forwarded)
        assert not any(f["ip.src"][0].startswith("100.64.") for f in frames)
    else:
        assert not forwarded
