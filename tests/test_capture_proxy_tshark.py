"""tshark decodes the PROXY v1 and v2 headers and X-Forwarded-For in captures.

One ``lbsim run --pcap`` of a small loss-free scenario: a layer-4 proxy writing
PROXY v1, one writing v2 (with plain HTTP clients and TLS clients, whose
ClientHello follows the header on port 8443), and a layer-7 proxy adding
``X-Forwarded-For`` and ``Forwarded``. Each backend-side capture is read by tshark
with its TCP heuristics tried first (``tcp.try_heuristic_first``), so the PROXY
dissector (a heuristic one) gets the stream before the port's HTTP dissector;
then:

* every frame is read, none malformed, no TCP analysis flag, no expert message at
  warning level or above;
* every backend stream that carries data starts with exactly one PROXY header,
  of the variant's version, in its first data frame; it names a client's address
  and port (``connections.csv``, client side) and the VIP with the port the
  client connected to; each client connection is named once;
* after the header, the HTTP decoder still finds every request of
  ``requests.csv`` and the TLS decoder every ClientHello. Wireshark 4.0's PROXY
  dissector hands the rest of the header's segment to HTTP without TCP
  reassembly, so a first request whose body spans segments is shown as a
  "segment of a reassembled PDU" that never completes; this pass reads request
  heads without body reassembly (``http.desegment_body:FALSE``), as one would
  in Wireshark, and every head is found. Its v2 dissector shows nothing after
  the header in the header's own frame: with v2 the requests and ClientHellos
  not found are exactly those that share a frame with the header (the proxy
  writes the header as soon as it splices, so on a warm connection it leaves
  alone, and on a cold one it shares the first segment with the client's
  bytes);
* on the layer-7 backend side every request carries ``X-Forwarded-For``
  with its client's address.

Skipped without tshark unless ``LBSIM_REQUIRE_TSHARK`` is set (then a failure).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from lbsim.cli import main
from lbsim.net.addresses import VIP, ip_to_str

TSHARK = shutil.which("tshark")
if TSHARK is None and not os.environ.get("LBSIM_REQUIRE_TSHARK"):
    pytest.skip(
        "tshark is not installed (Debian: apt-get install tshark); "
        "set LBSIM_REQUIRE_TSHARK=1 to make this a failure",
        allow_module_level=True,
    )

SCENARIO = """\
name: tshark_proxy
seed: 11
duration: 500ms
network:
  client_link:  {latency: 5ms, bandwidth: 100Mbps}
  backend_link: {latency: 0.2ms, bandwidth: 10Gbps}
backends:
  - {group: web, count: 2, workers: 4, service_time: exp(3ms)}
clients:
  - name: browsers
    count: 4
    requests_per_connection: 3
    think_time: exp(30ms)
    requests:
      - {path: /index.html, size: 400B, response: 20KB, weight: 3}
      - {method: POST, path: /upload, size: 6KB, response: 250B}
  - name: secure
    count: 2
    requests_per_connection: 2
    think_time: exp(40ms)
    tls: "1.3"
    requests:
      - {path: /account, size: 300B, response: 4KB}
balancers:
  - {name: v1, layer: 4, mode: proxy, algorithm: round_robin, proxy_protocol: v1}
  - {name: v2, layer: 4, mode: proxy, algorithm: round_robin, pool: {warm: 2},
     proxy_protocol: v2}
  - {name: l7, layer: 7, algorithm: round_robin, tls: {},
     forwarded: {x_forwarded_for: true, forwarded: true}}
"""

FIELDS = (
    "frame.number",
    "tcp.stream",
    "tcp.len",
    "ip.src",
    "proxy.v1.magic",
    "proxy.v2.version",
    "proxy.src.ipv4",
    "proxy.srcport",
    "proxy.dst.ipv4",
    "proxy.dstport",
    "http.request.method",
    "http.request.uri",
    "http.x_forwarded_for",
    "tls.handshake.type",
    "tcp.analysis.flags",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.message",
)
#: Expert severity "warning" (epan/proto.h); errors are above it.
WARNING = 0x00600000
PROXY_SIDE = "10.0.0.1"  # the balancer's inside address


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tshark_proxy")
    (base / "s.yaml").write_text(SCENARIO)
    out = base / "out"
    assert main(["run", str(base / "s.yaml"), "--out", str(out), "--pcap", "--no-figures"]) == 0
    return out


def decode(path: Path, *options: str) -> list[dict[str, list[str]]]:
    """One dict per frame: field -> values (several when a frame has several)."""
    if TSHARK is None:
        pytest.fail("LBSIM_REQUIRE_TSHARK is set but tshark is not installed")
    command = [TSHARK, "-r", str(path), "-n", "-o", "tcp.try_heuristic_first:TRUE", *options]
    command += ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
    command += ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=\x1f"]
    command += ["-E", "separator=/t"]
    for name in FIELDS:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    frames = []
    for line in done.stdout.splitlines():
        values = line.split("\t")
        assert len(values) == len(FIELDS), line
        frames.append(
            {k: [x for x in v.split("\x1f") if x] for k, v in zip(FIELDS, values, strict=True)}
        )
    return frames


def table(out: Path, name: str, variant: str) -> list[dict[str, str]]:
    with open(out / name, newline="") as file:
        return [r for r in csv.DictReader(file) if r["variant"] == variant]


VARIANTS = ("v1", "v2", "l7")


@pytest.fixture(scope="module")
def backend_frames(output: Path) -> dict[str, list[dict[str, list[str]]]]:
    return {v: decode(output / "pcap" / f"{v}-backend.pcap") for v in VARIANTS}


@pytest.fixture(scope="module")
def head_frames(output: Path) -> dict[str, list[dict[str, list[str]]]]:
    """The same, reading request heads without reassembling bodies."""
    body = ("-o", "http.desegment_body:FALSE")
    return {v: decode(output / "pcap" / f"{v}-backend.pcap", *body) for v in ("v1", "v2")}


@pytest.mark.parametrize("variant", VARIANTS)
def test_backend_capture_decodes_without_warnings(
    backend_frames: dict[str, list[dict[str, list[str]]]], variant: str
) -> None:
    frames = backend_frames[variant]
    assert len(frames) > 100
    assert not [f["frame.number"] for f in frames if f["_ws.malformed"]]
    assert not [f["frame.number"] for f in frames if f["tcp.analysis.flags"]]
    loud = [
        (f["frame.number"], f["_ws.expert.message"])
        for f in frames
        if any(int(s) >= WARNING for s in f["_ws.expert.severity"])
    ]
    assert not loud


@pytest.mark.parametrize("variant", ["v1", "v2"])
def test_every_backend_stream_starts_with_the_proxy_header(
    output: Path, backend_frames: dict[str, list[dict[str, list[str]]]], variant: str
) -> None:
    by_stream: dict[str, list[dict[str, list[str]]]] = defaultdict(list)
    for frame in backend_frames[variant]:
        if frame["ip.src"] == [PROXY_SIDE] and int(frame["tcp.len"][0]) > 0:
            by_stream[frame["tcp.stream"][0]].append(frame)
    clients = {
        (r["src"].rsplit(":", 1)[0], r["src"].rsplit(":", 1)[1], r["dst"].rsplit(":", 1)[1])
        for r in table(output, "connections.csv", variant)
        if r["side"] == "client"
    }
    named = []
    for stream, frames in by_stream.items():
        headers = [f for f in frames if f["proxy.src.ipv4"]]
        assert headers == frames[:1], stream  # one header, in the first data frame
        first = frames[0]
        if variant == "v1":
            assert first["proxy.v1.magic"] and not first["proxy.v2.version"]
        else:
            assert first["proxy.v2.version"] == ["2"] and not first["proxy.v1.magic"]
        assert first["proxy.dst.ipv4"] == [ip_to_str(VIP)]
        named.append((first["proxy.src.ipv4"][0], first["proxy.srcport"][0],
                      first["proxy.dstport"][0]))  # fmt: skip
    assert len(named) == len(set(named)) >= 10
    assert set(named) <= clients
    assert {port for _, _, port in named} == {"80", "443"}  # HTTP and TLS clients


@pytest.mark.parametrize("variant", ["v1", "v2"])
def test_requests_and_client_hellos_are_decoded_after_the_header(
    output: Path,
    backend_frames: dict[str, list[dict[str, list[str]]]],
    head_frames: dict[str, list[dict[str, list[str]]]],
    variant: str,
) -> None:
    frames = head_frames[variant]
    assert not [f["frame.number"] for f in frames if f["_ws.malformed"]]
    requests = table(output, "requests.csv", variant)
    assert {r["outcome"] for r in requests} == {"ok"}
    plain = [r for r in requests if r["client"] == "browsers"]
    methods = Counter(
        (m, u)
        for f in frames
        for m, u in zip(f["http.request.method"], f["http.request.uri"], strict=True)
    )
    expected = Counter((r["method"], r["path"]) for r in plain)
    hellos = sum(f["tls.handshake.type"].count("1") for f in backend_frames[variant])
    secure = {r["connection"] for r in requests if r["client"] == "secure"}
    if variant == "v1":
        assert methods == expected
        assert hellos == len(secure) > 0
        return
    # Wireshark 4.0 shows nothing after a v2 header in the header's own frame: the
    # requests and ClientHellos it misses are exactly those sharing a frame with one.
    shared = [
        f for f in backend_frames[variant] if f["proxy.v2.version"] and int(f["tcp.len"][0]) > 28
    ]
    assert methods <= expected
    assert (expected.total() - methods.total()) + (len(secure) - hellos) == len(shared)
    assert methods.total() > expected.total() / 2 and len(shared) > 0


def test_l7_backend_side_carries_x_forwarded_for(
    output: Path, backend_frames: dict[str, list[dict[str, list[str]]]]
) -> None:
    frames = backend_frames["l7"]
    seen = Counter(x for f in frames for x in f["http.x_forwarded_for"])
    requests = table(output, "requests.csv", "l7")
    assert seen == Counter(r["forwarded_for"] for r in requests)
    addresses = {
        r["connection"]: r["src"].rsplit(":", 1)[0]
        for r in table(output, "connections.csv", "l7")
        if r["side"] == "client"
    }
    assert all(r["forwarded_for"] == addresses[r["connection"]] for r in requests)
    assert sum(seen.values()) == len(requests) > 50
