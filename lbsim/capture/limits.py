"""What a capture keeps: the limits that keep capture files small.

Theory of operation: a full capture of a large run is gigabytes (the bundled
quickstart moves about 0.9 GB of payload per side and variant), so a capture can be
limited in three ways, which combine (a packet is kept only if every limit given
keeps it):

* ``connections=N``: the first N client connections, in the order their first
  SYN leaves the client.
* ``client=NAME``: the connections of one client host (``browsers-h3``, as the
  simulator names them), of every host of a client group (``browsers``), or of a
  client address (``100.64.0.4``).
* ``window=(t0, t1)``: packets whose capture time lies in ``[t0, t1)`` seconds of
  simulated time. Connections cut by the window start or end mid-stream, which
  Wireshark marks (e.g. "previous segment not captured").

On the client side, connection limits keep or drop whole connections. On the
backend side they keep what the kept client connections caused:

* a connection that passes *through* the balancer (L4 NAT: the same client
  address, port and initial sequence number on both sides) is kept exactly when
  it is kept on the client side, so both files show the same connections;
* a connection the balancer opens itself (an L7 proxy's pooled upstream
  connection) carries the requests of many clients one after the other, so only
  its handshake, its close, and the exchanges of the kept connections' requests
  (request and response bytes, and the ACKs of those bytes) are kept. Wireshark
  marks the gaps where other clients' exchanges were left out ("previous segment
  not captured", "ACKed unseen segment"): that is the pool at work.

Only the time window cuts through connections at arbitrary points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lbsim.net.addresses import backend_address, client_address, ip_from_str, ip_to_str

if TYPE_CHECKING:
    from lbsim.scenario import Scenario

__all__ = ["CaptureLimits", "client_addresses", "host_addresses", "parse_window"]


@dataclass(frozen=True, slots=True)
class CaptureLimits:
    """Limits of a capture; ``None`` means "no limit".

    Attributes:
        connections: Keep the first N connections of each side.
        window: Keep packets captured at ``t0 <= t < t1`` (seconds).
        client: Keep one client host, client group or client address.
    """

    connections: int | None = None
    window: tuple[float, float] | None = None
    client: str | None = None

    def __post_init__(self) -> None:
        if self.connections is not None and self.connections < 1:
            raise ValueError(f"the connection limit must be at least 1, got {self.connections}")
        if self.window is not None:
            t0, t1 = self.window
            if not (t0 >= 0 and t1 > t0):
                raise ValueError(f"the capture window must satisfy 0 <= T0 < T1, got {t0:g}:{t1:g}")

    @property
    def by_connection(self) -> bool:
        """Whether some limit selects connections (not only a time window)."""
        return self.connections is not None or self.client is not None

    def describe(self) -> str:
        """A short human-readable summary, e.g. ``"first 10 connections, 1-2 s"``."""
        parts = []
        if self.connections is not None:
            parts.append(f"first {self.connections} connections per side")
        if self.client is not None:
            parts.append(f"client {self.client}")
        if self.window is not None:
            t0, t1 = self.window
            parts.append(f"{t0:g} s to {'end' if math.isinf(t1) else f'{t1:g} s'}")
        return ", ".join(parts) or "everything"


def _time(text: str, default: float) -> float:
    text = text.strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        pass
    # Imported here: the scenario package is heavy, and ``lbsim --help`` reads this module.
    from lbsim.scenario.units import UnitError, parse_duration

    try:
        return parse_duration(text)
    except UnitError as exc:
        raise ValueError(f"capture window: {exc}") from exc


def parse_window(text: str) -> tuple[float, float]:
    """Parse a capture window ``T0:T1`` (either end may be empty).

    Args:
        text: Times in seconds or with units, e.g. ``"10:12"``, ``"500ms:1.5s"``,
            ``"30s:"`` (from 30 s to the end).

    Returns:
        ``(t0, t1)`` in seconds; ``t1`` is infinite when omitted.

    Raises:
        ValueError: If the text is not a valid window.
    """
    if text.count(":") != 1:
        raise ValueError(f'capture window: expected T0:T1 such as "10s:12s", got "{text}"')
    first, second = text.split(":")
    window = (_time(first, 0.0), _time(second, math.inf))
    CaptureLimits(window=window)  # range check
    return window


def client_addresses(scenario: Scenario, name: str) -> frozenset[int]:
    """Addresses of the client host, group or address ``name`` in ``scenario``.

    Hosts are numbered as the simulator numbers them: group by group, in file
    order, ``<group>-h<i>`` having the next address of ``100.64.0.0/10``.

    Raises:
        ValueError: If no host, group or client address of the scenario matches.
    """
    hosts: dict[str, int] = {}
    groups: dict[str, list[int]] = {}
    index = 0
    for group in scenario.clients:
        for h in range(group.hosts):
            ip = client_address(index)
            index += 1
            hosts[f"{group.name}-h{h}"] = ip
            groups.setdefault(group.name, []).append(ip)
    if name in hosts:
        return frozenset({hosts[name]})
    if name in groups:
        return frozenset(groups[name])
    try:
        address: int | None = ip_from_str(name)
    except ValueError:
        address = None
    if address is not None and address in hosts.values():
        return frozenset({address})
    shown = ", ".join(list(groups)[:5])
    first_hosts = ", ".join(list(hosts)[:3])
    last = list(hosts)[-1] if hosts else ""
    raise ValueError(
        f'capture client "{name}": no such client host, group or address '
        f"(groups: {shown}; hosts: {first_hosts}, ... {last}; addresses "
        f"{ip_to_str(client_address(0))} to {ip_to_str(client_address(max(0, index - 1)))})"
    )


def host_addresses(scenario: Scenario) -> dict[str, int]:
    """Every client host's and backend's name and address, as the simulator assigns them.

    Client hosts are ``<group>-h<i>`` with consecutive addresses of
    ``100.64.0.0/10``, group by group in file order; backends are ``<group>-<i>``
    (from 1) at ``10.0.<group index + 1>.<i>``.
    """
    hosts: dict[str, int] = {}
    index = 0
    for group in scenario.clients:
        for h in range(group.hosts):
            hosts[f"{group.name}-h{h}"] = client_address(index)
            index += 1
    for g_index, bgroup in enumerate(scenario.backends):
        for i in range(1, bgroup.count + 1):
            hosts[f"{bgroup.group}-{i}"] = backend_address(g_index, i)
    return hosts
