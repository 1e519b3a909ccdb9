"""What both layer-4 balancers share: they place whole connections on backends.

Theory of operation: the packet forwarder (:mod:`lbsim.lb.l4`, NAT and DSR) and the
splicing proxy (:mod:`lbsim.lb.l4proxy`) differ in how they carry bytes, but choose a
backend the same way, once per connection (concept C7): the per-connection
algorithm picks among the backends that are healthy and not draining, keyed by the
client's address and port (by the address alone for ``source_hash``, so all of a
client's connections land together). The candidate list is cached and dropped
whenever health, draining or the set of backends changes, so choosing costs no
scan per connection. Every placement is remembered for the connection records.
Both are :class:`~lbsim.lb.base.Balancer` kinds; what they share of that interface
(the table's counters and states, scale out over their groups) is here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import simpy

from lbsim.lb.algorithms import Algorithm
from lbsim.lb.backends import BackendRef
from lbsim.lb.base import Balancer
from lbsim.lb.conntable import ConnectionTable
from lbsim.streams import mix64, mix_ints


class ConnectionPlacer(Balancer):
    """Base of the layer-4 balancers: backend choice per connection, and its record.

    Attributes:
        backends: Every backend, in scenario order (scale-out appends).
        algorithm: The per-connection algorithm.
        table: The connection table.
        placements: Every placement ever made, ``(client ip, port) -> backend name``,
            kept for connection records after entries are gone.
        groups: Backend groups it balances over (None: all); scale out outside
            them is ignored.
    """

    layer = 4
    env: simpy.Environment  # set by the concrete balancer

    def __init__(
        self,
        backends: Sequence[BackendRef],
        algorithm: Algorithm,
        table: ConnectionTable,
        groups: Collection[str] | None = None,
    ) -> None:
        self.backends = list(backends)
        self.groups = groups
        self.algorithm = algorithm
        self.table = table
        self.placements: dict[tuple[int, int], str] = {}
        self._hash_ip_only = algorithm.name == "source_hash"
        self._usable: list[BackendRef] | None = None  # cache of backends new work may use

    def discard(self) -> None:
        """Empty the connection table and the placements (one entry per connection)."""
        self.table.discard()
        self.placements.clear()

    def placement_key(self, client_ip: int, client_port: int) -> int:
        """The algorithm's key for a connection from ``client_ip:client_port``."""
        return mix64(client_ip) if self._hash_ip_only else mix_ints(client_ip, client_port)

    def usable_backends(self) -> list[BackendRef]:
        """Backends new connections may go to: healthy and not draining."""
        usable = self._usable
        if usable is None:
            usable = self._usable = [b for b in self.backends if b.healthy and not b.draining]
        return usable

    def backends_changed(self, *_args: object) -> None:
        """Health, draining or the set of backends changed: recompute candidates."""
        self._usable = None

    def add_backend(self, backend: BackendRef) -> bool:
        """Scale out: a backend of one of its groups starts receiving new connections."""
        if self.groups is not None and backend.group not in self.groups:
            return False
        self.backends.append(backend)
        self.backends_changed()
        self.algorithm.backend_joined(backend.name, self.env.now)
        return True

    def algorithms(self) -> list[Algorithm]:
        """Its one per-connection algorithm."""
        return [self.algorithm]

    def algorithms_of(self, backend: BackendRef) -> list[Algorithm]:
        """Its algorithm, if ``backend`` is one of its backends."""
        return [self.algorithm] if backend in self.backends else []

    def placement(self, client_ip: int, client_port: int) -> str | None:
        """Backend the connection from ``client_ip:client_port`` was placed on."""
        return self.placements.get((client_ip, client_port))

    @property
    def table_entries(self) -> int:
        """Live connection-table entries."""
        return len(self.table)

    @property
    def peak_entries(self) -> int:
        """Most entries the table held at once."""
        return self.table.peak

    def table_counts(self) -> dict[str, int]:
        """Live entries by state (``SYN_RECV``, ``ESTABLISHED``, ...)."""
        return self.table.counts()

    def counters(self) -> dict[str, float]:
        """Peaks, plus connections the full table refused and entries that expired."""
        out = super().counters()
        out["lb.table_refused"] = self.table.refused
        out["lb.table_expired"] = self.table.expired
        return out
