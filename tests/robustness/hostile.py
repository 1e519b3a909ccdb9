"""The hostile-input corpus: one case per failure found by probing the command line.

Each case is the argument list of one ``lbsim`` command (files it needs are made by
:func:`materialise`), the exit status it must end with, and a piece of text its one
stderr line must contain. The corpus test runs them through ``lbsim.cli.main``;
``benchmarks/hostile_inputs.py`` runs them as separate processes and measures their
peak memory and wall time.

``{tmp}`` in an argument is replaced by a scratch folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CASES", "Case", "materialise"]

_FAST = ["--set", "duration=1s", "--set", "warmup=0s"]


@dataclass(frozen=True)
class Case:
    """One hostile command: its arguments, expected exit status and message part."""

    name: str
    argv: tuple[str, ...]
    status: int
    says: str


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the previous one."""
    lines = ["a0: &a0 [" + ",".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\nname: bomb\n"


FILES: dict[str, str] = {
    "bomb.yaml": _alias_bomb(),
    "selfref.yaml": "name: loop\ndescription: &a [*a]\n",
    "deep.yaml": "name: " + "[" * 3000 + "]" * 3000 + "\n",
}


def materialise(folder: Path) -> None:
    """Write the corpus files, a FIFO and a file that blocks a folder into ``folder``."""
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    fifo = folder / "fifo.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)
    (folder / "afile").write_text("in the way\n", encoding="utf-8")
    (folder / "adir.png").mkdir(exist_ok=True)


def _check(*sets: str) -> tuple[str, ...]:
    argv: list[str] = ["check", "quickstart"]
    for item in sets:
        argv += ["--set", item]
    return tuple(argv)


def _run(*sets: str) -> tuple[str, ...]:
    argv: list[str] = ["run", "quickstart", "--out", "{tmp}/out"]
    for item in sets:
        argv += ["--set", item]
    return tuple(argv)


CASES: tuple[Case, ...] = (
    # YAML limits
    Case("alias-bomb", ("check", "{tmp}/bomb.yaml"), 2, "aliases"),
    Case("self-alias", ("check", "{tmp}/selfref.yaml"), 2, "refers to a node that contains it"),
    Case("deep-brackets", ("check", "{tmp}/deep.yaml"), 2, "nested more than 64 levels"),
    Case("digits-400-count", _check("clients.browsers.count=" + "9" * 400), 2, "400 digits"),
    Case("digits-5000-seed-set", _check("seed=" + "7" * 5000), 2, "5000 digits"),
    Case("digits-5000-seed-arg", ("check", "quickstart", "--seed", "7" * 5000), 2, "--seed"),
    # absurd values: schema bounds, each with its reason
    Case("users-1e8", _check("clients.browsers.count=100000000"), 2, "open-loop rate"),
    Case(
        "streams-1e8",
        ("check", "grpc_stickiness", "--set", "clients.busy.streams=100000000"),
        2,
        "streams",
    ),
    Case("rate-1e9", ("check", "scale_out", "--set", "clients.newcomers.rate=1e9/s"), 2, "rate"),
    Case(
        "health-1ns",
        _check("balancers.l7.health_check={interval: 1ns}"),
        2,
        "every check is a connection",
    ),
    Case(
        "vnodes-1e8",
        _check("balancers.l7.algorithm=consistent_hash", "balancers.l7.params={vnodes: 100000000}"),
        2,
        "params.vnodes",
    ),
    Case("pool-warm-1e9", _check("balancers.l7.pool.warm=1000000000"), 2, "pool.warm"),
    Case("duration-1e9s", _check("duration=1e9s"), 2, "duration: must be at most"),
    Case("bandwidth-1e30T", _check("network.client_link.bandwidth=1e30Tbps"), 2, "10 Tbps"),
    Case(
        "replications-1e8",
        ("sweep", "quickstart", "--replications", "100000000", "--out", "{tmp}/sw"),
        2,
        "at most 10000",
    ),
    # absurd combinations: the work budget
    Case(
        "zero-time-requests",
        _run(
            "network.client_link.latency=0",
            "network.backend_link.latency=0",
            "network.client_link.bandwidth=10Tbps",
            "network.backend_link.bandwidth=10Tbps",
            "backends.web.service_time=0",
            "clients.browsers.think_time=0",
            "clients.browsers.requests.1.service_time=0",
        ),
        2,
        "--allow-large",
    ),
    Case("long-run", _run("duration=1000000s"), 2, "--allow-large"),
    Case("response-100GB", _run("clients.browsers.requests.0.response=100GB"), 2, "segments each"),
    Case("pcap-unlimited", ("run", "quickstart", "--pcap", "--out", "{tmp}/out"), 2, "--pcap-"),
    Case(
        "sweep-cache-0",
        ("sweep", "quickstart", "--grid", "balancers.l7.cache.size=1MB,0", "--out", "{tmp}/sw"),
        2,
        "cache.size",
    ),
    Case(
        "sweep-point-over-budget",
        ("sweep", "quickstart", "--grid", "duration=10s,1000000s", "--out", "{tmp}/sw"),
        2,
        "(in duration=1000000s)",
    ),
    Case(
        "sweep-same-values",
        ("sweep", "quickstart", "--grid", "clients.browsers.count=1,01,0x1", "--out", "{tmp}/sw"),
        2,
        "give the same scenario",
    ),
    # tracebacks that became one line
    Case(
        "lognormal-cv-1e300",
        _check("clients.browsers.think_time=lognormal(mean=5ms, cv=1e300)"),
        2,
        "cv must be at most",
    ),
    Case(
        "hyperexp-cv-1e200",
        _check("clients.browsers.think_time=hyperexp(mean=5ms, cv=1e200)"),
        2,
        "cv must be at most",
    ),
    Case("cache-size-0", _check("balancers.l7.cache={size: 0}"), 2, "cache.size"),
    Case(
        "pcap-out-blocked",
        ("run", "quickstart", *_FAST, "--pcap", "--out", "{tmp}/afile/out"),
        2,
        "is a file, not a folder",
    ),
    Case(
        "pcap-out-unwritable",
        ("run", "quickstart", *_FAST, "--pcap", "--out", "/proc/lbsim-out"),
        1,
        "cannot write",
    ),
    Case(
        "ladder-onto-folder",
        ("trace", "quickstart", *_FAST, "--ladder", "{tmp}/adir.png"),
        2,
        "is a folder",
    ),
    Case(
        "ladder-unwritable",
        ("trace", "quickstart", *_FAST, "--ladder", "/proc/lbsim-ladder.png"),
        1,
        "cannot write",
    ),
    # messages
    Case("dev-null", ("check", "/dev/null"), 2, "not a regular file"),
    Case("dev-zero", ("check", "/dev/zero"), 2, "not a regular file"),
    Case("fifo", ("check", "{tmp}/fifo.yaml"), 2, "not a regular file"),
    Case("newline-in-path", ("check", "{tmp}/no\nsuch.yaml"), 2, "no\\nsuch.yaml"),
    Case(
        "union-path",
        _check("balancers.l7.params={a: [1]}"),
        2,
        "balancers.l7.params.a: expected a number, text or true/false",
    ),
)
