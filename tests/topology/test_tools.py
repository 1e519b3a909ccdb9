"""The teaching tools on topologies: --pcap captures at the variant tier's instances
(lbsim trace and lbsim view: test_trace_topology.py, test_view_topology.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lbsim.net.addresses import tier_address
from lbsim.net.link import Link
from lbsim.net.segment import Segment

SHORT = ["--set", "duration=1s", "--set", "warmup=0.2s"]


def test_the_capture_taps_only_the_variant_tiers_links() -> None:
    from lbsim.capture.capture import VariantCapture
    from lbsim.capture.tier_point import tier_tap
    from lbsim.scenario import load_scenario

    seen: list[str] = []

    class Probe(VariantCapture):
        def tap(self, link: Link, seg: Segment, t: float, dropped: bool) -> None:
            seen.append(link.name)

    sc = load_scenario("mesh", ["duration=1s", "warmup=0.2s"])
    probe = Probe.__new__(Probe)
    probe._hosts = {}  # only what tier_tap adds
    tap = tier_tap(probe, sc)
    from lbsim.run.runs import build_variant

    build = build_variant(sc, "round_robin", taps=[tap])
    build.run()
    assert seen
    sidecars = {f"sidecars-{j}" for j in (1, 2, 3)}
    for name in set(seen):
        sender, receiver = name.split(">")
        assert sender in sidecars or receiver in sidecars, name
    assert probe._hosts["edge-proxies-1"] == tier_address(0, 1)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_pcap_of_two_l7_tiers_shows_each_packet_once_at_the_sidecars(tmp_path: Path) -> None:
    from lbsim.cli import main

    code = main(["run", "mesh", *SHORT, "--no-figures", "--out", str(tmp_path), "--pcap",
                 "--pcap-connections", "20"])  # fmt: skip
    assert code == 0
    client = tmp_path / "pcap" / "round_robin-client.pcap"
    out = subprocess.run(
        ["tshark", "-r", str(client), "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
         "-e", "tcp.analysis.retransmission"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [line.split("\t") for line in out.stdout.splitlines() if line]
    assert rows
    sidecars = {f"172.16.2.{j}" for j in (1, 2, 3)}
    edges = {"172.16.1.1", "172.16.1.2"}
    for src, dst, retransmitted in rows:
        # edge proxy <-> sidecar, each packet once (no duplicate read as a retransmission)
        assert {src, dst} & sidecars and {src, dst} & edges and not retransmitted
