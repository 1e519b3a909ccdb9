"""PROXY protocol v1/v2 at the layer-4 proxy, and the client address backends see.

Three rings:

* the encoders, without SimPy, byte for byte against the specification's
  formats (HAProxy, doc/proxy-protocol.txt: section 2.1's example line and
  worst-case length, section 2.2's binary layout), and read back by ``parse``;
* the scenario key: only layer-4 ``proxy`` mode takes it (exit 2 elsewhere,
  naming the key path);
* one small run with a capture: the backend records the client's address with
  a header and the proxy's without; on every backend connection the header's
  bytes are the first of the stream, before the client's first byte, and the
  connection's byte and segment counts (``connections.csv``) include them,
  frame for frame and byte for byte against the pcap.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from lbsim.app.http import field_value
from lbsim.app.proxy_protocol import ProxyHeader, encode_v1, encode_v2, parse
from lbsim.capture import read_pcap
from lbsim.capture.proxy_header import encode_proxy_header
from lbsim.cli import main
from lbsim.lb.forwarded import forwarded_request
from lbsim.net.addresses import VIP, ip_from_str, ip_to_str

# ------------------------------------------------------------------ encoders


def test_v1_matches_the_specification_example() -> None:
    # Section 2.1's example: a client 192.168.0.1:56324 connected to 192.168.0.11:443.
    line = encode_v1(ip_from_str("192.168.0.1"), ip_from_str("192.168.0.11"), 56324, 443)
    assert line == b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"


def test_v1_worst_case_is_56_bytes() -> None:
    # Section 2.1: "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n" = 56 chars.
    top = ip_from_str("255.255.255.255")
    line = encode_v1(top, top, 65535, 65535)
    assert line == b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"
    assert len(line) == 56


def test_v2_layout_byte_for_byte() -> None:
    # Section 2.2: signature, 0x21 (v2, PROXY), 0x11 (AF_INET, STREAM), length 12,
    # src addr, dst addr, src port, dst port -- all in network byte order.
    data = encode_v2(ip_from_str("172.19.0.1"), ip_from_str("172.19.0.3"), 42578, 80)
    expected = bytes.fromhex(
        "0d0a0d0a000d0a515549540a"  # signature: \r\n\r\n\0\r\nQUIT\n
        "21"  # version 2, command PROXY
        "11"  # TCP over IPv4
        "000c"  # 12 address bytes follow
        "ac130001"  # 172.19.0.1
        "ac130003"  # 172.19.0.3
        "a652"  # 42578
        "0050"  # 80
    )
    assert data == expected
    assert len(data) == 28


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_parse_reads_back_what_was_encoded(version: str) -> None:
    header = ProxyHeader(version, ip_from_str("100.64.0.7"), VIP, 40001, 80)  # type: ignore[arg-type]
    data = header.encode()
    assert header.size == len(data)
    got, used = parse(data + b"GET / HTTP/1.1\r\n")
    assert got == header and used == len(data)
    assert got.source == "100.64.0.7"


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP6 ::1 ::1 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n",
        bytes.fromhex("0d0a0d0a000d0a515549540a2011000c"),  # LOCAL command
        bytes.fromhex("0d0a0d0a000d0a515549540a2111000c0102"),  # truncated
    ],
)
def test_parse_refuses_what_it_does_not_understand(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse(data)


def test_capture_encoding_is_the_header_itself() -> None:
    header = ProxyHeader("v2", ip_from_str("100.64.0.1"), VIP, 32768, 80)
    encoded = encode_proxy_header(header)
    assert encoded.size == 28 and encoded.read(0, 28) == header.encode()
    assert encoded.read(12, 14) == b"\x21\x11"


# --------------------------------------------------- X-Forwarded-For through tiers


def test_xff_is_appended_to_what_the_request_already_carries() -> None:
    from lbsim.app.http import HttpRequest, RequestContext

    req = HttpRequest(
        request_id="c-0-0", method="GET", path="/", size=300, response_size=100,
        service_u=0.5, ctx=RequestContext(),
        headers=(("X-Forwarded-For", "100.64.0.9"), ("x-forwarded-for", "198.51.100.7")),
    )  # fmt: skip
    edge = ip_from_str("172.16.1.1")
    out = forwarded_request(req, edge, ip_from_str("10.0.0.1"), xff=True, forwarded=True)
    # The list is read across field lines (RFC 9110 5.3); the new address ends it.
    assert field_value(out.headers, "X-Forwarded-For") == "100.64.0.9, 198.51.100.7, 172.16.1.1"
    assert out.headers[1] == ("x-forwarded-for", "198.51.100.7, 172.16.1.1")
    assert field_value(out.headers, "Forwarded") == "for=172.16.1.1;by=10.0.0.1"
    again = forwarded_request(out, ip_from_str("10.0.0.1"), ip_from_str("10.0.9.9"),
                              xff=True, forwarded=True)  # fmt: skip
    assert field_value(again.headers, "forwarded") == (
        "for=172.16.1.1;by=10.0.0.1, for=10.0.0.1;by=10.0.9.9"
    )
    assert req.headers[0] == ("X-Forwarded-For", "100.64.0.9")  # the original is untouched


# ------------------------------------------------------------ the scenario key


def _l4(**balancer: object) -> dict:  # type: ignore[type-arg]
    return {
        "name": "t",
        "duration": "1s",
        "network": {
            "client_link": {"latency": "1ms", "bandwidth": "1Gbps"},
            "backend_link": {"latency": "1ms", "bandwidth": "1Gbps"},
        },
        "backends": [{"group": "web", "service_time": "1ms"}],
        "clients": [{"name": "c", "count": 1, "requests": [{"path": "/", "response": "1KB"}]}],
        "balancers": [{"name": "b", "algorithm": "round_robin", **balancer}],
    }


@pytest.mark.parametrize(
    ("balancer", "words"),
    [
        ({"layer": 4, "proxy_protocol": "v1"}, "nat mode"),
        ({"layer": 4, "mode": "dsr", "proxy_protocol": "v2"}, "dsr mode"),
        ({"layer": 7, "proxy_protocol": "v1"}, "forwarded"),
        ({"layer": 4, "mode": "proxy", "proxy_protocol": "v3"}, "v1"),
    ],
)
def test_proxy_protocol_is_refused_where_meaningless(balancer: dict, words: str) -> None:  # type: ignore[type-arg]
    from lbsim.scenario import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError) as err:
        parse_scenario(_l4(**balancer))
    assert err.value.path == "balancers.b.proxy_protocol"
    assert words in err.value.message


def test_proxy_protocol_exits_2_from_the_command_line(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_l4(layer=4, mode="dsr", proxy_protocol="v1")))
    assert main(["check", str(path)]) == 2


def test_default_is_off_and_not_dumped() -> None:
    from lbsim.scenario import parse_scenario

    scenario = parse_scenario(_l4(layer=4, mode="proxy"))
    assert scenario.balancers[0].proxy_protocol is None
    assert "proxy_protocol" not in scenario.to_yaml()
    with_v2 = parse_scenario(_l4(layer=4, mode="proxy", proxy_protocol="v2"))
    assert "proxy_protocol: v2" in with_v2.to_yaml()


# ------------------------------------------------------------- one small run

SCENARIO = """\
name: pp
seed: 5
duration: 500ms
network:
  client_link:  {latency: 5ms, bandwidth: 100Mbps}
  backend_link: {latency: 0.2ms, bandwidth: 10Gbps}
backends:
  - {group: web, count: 2, workers: 4, service_time: exp(3ms)}
clients:
  - name: browsers
    count: 6
    requests_per_connection: 3
    think_time: exp(30ms)
    requests:
      - {path: /index.html, size: 400B, response: 20KB, weight: 3}
      - {method: POST, path: /upload, size: 6KB, response: 250B}
balancers:
  - {name: plain, layer: 4, mode: proxy, algorithm: round_robin, pool: {warm: 2}}
  - {name: v1, layer: 4, mode: proxy, algorithm: round_robin, proxy_protocol: v1}
  - {name: v2, layer: 4, mode: proxy, algorithm: round_robin, pool: {warm: 2},
     proxy_protocol: v2}
"""


@pytest.fixture(scope="module")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pp")
    (base / "pp.yaml").write_text(SCENARIO)
    out = base / "out"
    assert main(["run", str(base / "pp.yaml"), "--out", str(out), "--pcap", "--no-figures"]) == 0
    return out


def _rows(out: Path, name: str, variant: str) -> list[dict[str, str]]:
    with open(out / name, newline="") as file:
        return [r for r in csv.DictReader(file) if r["variant"] == variant]


def _client_endpoints(out: Path, variant: str) -> dict[str, tuple[str, int]]:
    """Client connection id -> the client's (address, port), from connections.csv."""
    found = {}
    for row in _rows(out, "connections.csv", variant):
        if row["side"] == "client":
            ip, port = row["src"].rsplit(":", 1)
            found[row["connection"]] = (ip, int(port))
    return found


@pytest.mark.parametrize("variant", ["plain", "v1", "v2"])
def test_backends_record_the_client_with_a_header_and_the_proxy_without(
    run_out: Path, variant: str
) -> None:
    clients = _client_endpoints(run_out, variant)
    served = [r for r in _rows(run_out, "requests.csv", variant) if r["backend"]]
    assert len(served) > 50
    for row in served:
        if variant == "plain":
            assert row["client_ip_seen"] == "10.0.0.1"
        else:
            assert row["client_ip_seen"] == clients[row["connection"]][0]
        assert row["forwarded_for"] == ""


def _backend_streams(out: Path, variant: str) -> dict[int, tuple[bytes, int]]:
    """Proxy source port -> (stream bytes towards the backend, frames both ways)."""
    pieces: dict[int, dict[int, bytes]] = defaultdict(dict)
    frames: dict[int, int] = defaultdict(int)
    isn: dict[int, int] = {}
    for packet in read_pcap(out / "pcap" / f"{variant}-backend.pcap"):
        tcp = packet.ip.data
        towards_backend = ip_to_str(int.from_bytes(packet.ip.src, "big")) == "10.0.0.1"
        port = tcp.sport if towards_backend else tcp.dport
        frames[port] += 1
        if towards_backend:
            if tcp.flags & 0x02:  # SYN
                isn[port] = tcp.seq
            if tcp.data:
                pieces[port][(tcp.seq - isn[port] - 1) % 2**32] = bytes(tcp.data)
    streams = {}
    for port, chunks in pieces.items():
        data = b"".join(chunk for _, chunk in sorted(chunks.items()))
        streams[port] = (data, frames[port])
    for port, count in frames.items():
        streams.setdefault(port, (b"", count))
    return streams


@pytest.mark.parametrize("variant", ["plain", "v1", "v2"])
def test_header_precedes_the_clients_first_byte_and_is_counted(run_out: Path, variant: str) -> None:
    streams = _backend_streams(run_out, variant)
    clients = set(_client_endpoints(run_out, variant).values())
    backend_rows = {
        int(r["src"].rsplit(":", 1)[1]): r
        for r in _rows(run_out, "connections.csv", variant)
        if r["side"] == "backend"
    }
    assert set(streams) == set(backend_rows)
    named = []
    header_bytes = 0
    for port, (data, frames) in streams.items():
        row = backend_rows[port]
        # Counts include the header: bytes and segments, exactly as on the wire.
        assert int(row["bytes_sent"]) == len(data)
        assert int(row["segments"]) == frames
        if not data:
            continue  # a warm connection no client was spliced to
        if variant == "plain":
            assert data.startswith((b"GET ", b"POST "))
            continue
        header, used = parse(data)
        assert header.version == variant
        assert data[used:].startswith((b"GET ", b"POST "))  # the client's first byte
        assert parse(header.encode())[0] == header
        assert (header.dst_ip, header.dst_port) == (VIP, 80)
        named.append((ip_to_str(header.src_ip), header.src_port))
        header_bytes += used
    if variant != "plain":
        # One header per spliced client connection, naming exactly those clients.
        assert len(named) == len(set(named)) and set(named) <= clients
        assert len(named) >= max(len(clients) - 1, 10)  # (one may open as the run ends)
    expected = sum(
        len(encode_v1(ip_from_str(ip), VIP, port, 80)) if variant == "v1" else 28
        for ip, port in named
    )
    assert header_bytes == expected
    sent = sum(int(r["bytes_sent"]) for r in backend_rows.values())
    requests = sum(
        int(r["request_bytes"]) for r in _rows(run_out, "requests.csv", variant) if r["backend"]
    )
    assert sent == requests + header_bytes  # the header is the only extra byte


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_header_before_tls_and_on_blocking_servers(version: str) -> None:
    """The header precedes a ClientHello too, and a thread-per-connection server reads it."""
    import yaml

    from lbsim.results import build_results
    from lbsim.scenario import parse_scenario
    from lbsim.sim import run_scenario

    data = yaml.safe_load(SCENARIO)
    data["backends"][0]["io_model"] = "blocking"
    data["clients"].append(
        {"name": "secure", "count": 3, "requests_per_connection": 2, "think_time": "exp(30ms)",
         "tls": "1.3", "requests": [{"path": "/account", "size": "300B", "response": "4KB"}]}
    )  # fmt: skip
    data["balancers"] = [
        {"name": "pp", "layer": 4, "mode": "proxy", "algorithm": "round_robin",
         "pool": {"warm": 1}, "proxy_protocol": version}
    ]  # fmt: skip
    scenario = parse_scenario(data)
    results = build_results(scenario, run_scenario(scenario))
    requests = results.requests
    conns = results.connections
    source = {
        c: s.rsplit(":", 1)[0]
        for c, s, side in zip(conns["connection"], conns["src"], conns["side"], strict=True)
        if side == "client"
    }
    assert set(requests["outcome"]) == {"ok"}
    assert set(requests["client"]) == {"browsers", "secure"}
    assert list(requests["client_ip_seen"]) == [source[c] for c in requests["connection"]]


def test_proxy_tier_of_a_topology_passes_the_client_on() -> None:
    """Behind a DSR tier, each L4 proxy instance names the client, not itself."""
    import yaml

    from lbsim.results import build_results
    from lbsim.scenario import parse_scenario
    from lbsim.scenario.loader import bundled_scenarios_dir
    from lbsim.sim import run_scenario

    data = yaml.safe_load((bundled_scenarios_dir() / "two_tier.yaml").read_text())
    data.update(duration="1s", warmup="0.2s", figures=["latency_cdf"])
    data["balancers"] = [
        {"name": name, "layer": 4, "mode": "proxy", "algorithm": "round_robin", **extra}
        for name, extra in (("plain", {}), ("v2", {"proxy_protocol": "v2"}))
    ]
    scenario = parse_scenario(data)
    requests = build_results(scenario, run_scenario(scenario)).requests
    assert set(requests["outcome"]) == {"ok"}
    seen = {
        v: set(requests.loc[requests["variant"] == v, "client_ip_seen"]) for v in ("plain", "v2")
    }
    assert all(ip.startswith("172.16.") for ip in seen["plain"])  # the proxy instances
    assert seen["v2"] and all(ip.startswith("100.64.") for ip in seen["v2"])  # the clients
