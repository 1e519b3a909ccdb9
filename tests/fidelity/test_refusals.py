"""Request level refuses what needs segments, and keeps the outputs' contract.

Every refusal is exit status 2 with one line naming the file and the key path;
a request-level run writes requests.csv, connections.csv and summary.json with
the segment-level columns, no segments.csv, and is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lbsim.cli import main

TINY = """\
name: tiny
seed: 1
duration: 2s
warmup: 0.5s
fidelity: request
network:
  client_link:  {latency: 1ms, bandwidth: 100Mbps, mtu: 1500}
  backend_link: {latency: 0.1ms, bandwidth: 10Gbps, mtu: 9000}
backends:
  - {group: web, count: 4, workers: 2, service_time: exp(5ms)}
clients:
  - name: browsers
    count: 3
    requests_per_connection: 5
    think_time: exp(50ms)
    requests:
      - {method: GET, path: /index.html, size: 400B, response: 40KB}
balancers:
  - {name: l4, layer: 4, mode: nat, algorithm: round_robin}
  - {name: l7, layer: 7, algorithm: least_request}
"""


def write(tmp_path: Path, text: str = TINY) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return str(path)


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("scenario", "path"),
    [
        ("lossy_link", "clients.mobile.link.loss"),
        ("slow_clients", "clients.mobile.link.queue"),
        ("two_tier", "topology"),
    ],
)
def test_bundled_scenarios_that_need_segments_are_refused(
    scenario: str, path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["check", scenario, "--set", "fidelity=request"], capsys)
    assert f"{scenario}: {path}: request level" in err
    assert "fidelity: segment" in err


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ("events: [{at: 1s, action: loss, rate: 0.01, link: client}]", "events.0.action"),
        ("events: [{at: 1s, action: outage, link: all, until: 1.5s}]", "events.0.action"),
    ],
)
def test_loss_and_outage_events_are_refused(
    extra: str, path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path, TINY + extra + "\n")
    err = refused(["run", file, "--out", str(tmp_path / "out")], capsys)
    assert f"{file}: {path}: request level" in err
    assert not (tmp_path / "out").exists()


def test_small_queue_refused_and_default_or_larger_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path)
    err = refused(["check", file, "--set", "network.client_link.queue=64KB"], capsys)
    assert "network.client_link.queue" in err
    assert main(["check", file, "--set", "network.client_link.queue=4MB"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--pcap"],
        ["run", "--trace-segments"],
        ["trace"],
        ["view"],
    ],
    ids=["pcap", "trace-segments", "trace", "view"],
)
def test_segment_observers_are_refused(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path)
    err = refused([argv[0], file, *argv[1:]], capsys)
    assert f"{file}: fidelity: " in err
    assert "--set fidelity=segment" in err


def test_outputs_keep_their_columns_without_segments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path)
    seg_file = tmp_path / "segment.yaml"
    seg_file.write_text(TINY.replace("fidelity: request", "fidelity: segment"))
    outs = {}
    for name, source in (("request", file), ("request2", file), ("segment", str(seg_file))):
        out = tmp_path / name
        assert main(["run", source, "--out", str(out)]) == 0
        outs[name] = out
    capsys.readouterr()
    req, seg = outs["request"], outs["segment"]
    assert not (req / "segments.csv").exists()
    for table in ("requests.csv", "connections.csv"):
        header = (req / table).read_text().splitlines()[0]
        assert header == (seg / table).read_text().splitlines()[0]
        # Deterministic: same scenario and seed, same bytes.
        assert (req / table).read_bytes() == (outs["request2"] / table).read_bytes()
    a = json.loads((req / "summary.json").read_text())
    b = json.loads((seg / "summary.json").read_text())
    assert a["variants"].keys() == b["variants"].keys()
    for name in a["variants"]:
        assert a["variants"][name].keys() == b["variants"][name].keys()
