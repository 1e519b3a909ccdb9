"""How a packet-forwarding L4 balancer keeps its connection table's entries.

Theory of operation: :class:`TableKeeper` is the part of
:class:`~lbsim.lb.l4.L4Balancer` (a mixin of it) that looks after entries once the
forwarder has opened them (:mod:`lbsim.lb.conntable` holds the states, the counts
and the timeouts). An entry's expiry timer is lazy: a state change re-arms it only
if the entry could now expire sooner, and a check that finds the entry re-armed or
gone does nothing; the first check of every new entry goes through one shared
:class:`~lbsim.lb.deadlines.DeadlineQueue` (they all come a SYN_RECV timeout after
their SYN). An entry leaving the table, by expiry or by a restart, releases its
backend's active count and its reverse mapping (NAT), or its source port (full NAT,
:mod:`lbsim.lb.snat`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from lbsim.lb.backends import BackendRef
from lbsim.lb.conntable import INF, ConnectionTable, Entry, EntryState
from lbsim.lb.snat import SourceNat
from lbsim.net.addresses import NAT_PORTS
from lbsim.net.segment import Segment
from lbsim.sched import call_at

_ACTIVE = (EntryState.SYN_RECV, EntryState.ESTABLISHED)


class TableKeeper:
    """The connection-table half of :class:`~lbsim.lb.l4.L4Balancer` (a mixin of it)."""

    if TYPE_CHECKING:  # what it uses of the balancer (declared for type checking only)
        env: simpy.Environment
        table: ConnectionTable
        inside: int
        snat: SourceNat | None
        _nat: bool
        _reverse: dict[tuple[int, int, int, int], Entry]
        _snat_port: dict[tuple[int, int], int]
        _timeout_of: dict[EntryState, float]

        def _refuse(self, syn: Segment) -> None: ...

    def _source_nat(self, entry: Entry, backend: BackendRef, syn: Segment) -> bool:
        """Give a new connection its source port (full NAT); refuse it if none is free."""
        assert self.snat is not None
        bport = NAT_PORTS[syn.dport]
        port = self.snat.allocate(backend.ip, bport)
        if port is None:
            self._forget(entry)
            self._refuse(syn)
            return False
        self._snat_port[(syn.src, syn.sport)] = port
        self._reverse[(backend.ip, bport, self.inside, port)] = entry
        return True

    def _release_source(self, entry: Entry) -> None:
        assert self.snat is not None
        port = self._snat_port.pop((entry.client_ip, entry.client_port), None)
        if port is None:
            return
        bport = NAT_PORTS[entry.vport]
        key = (entry.backend.ip, bport, self.inside, port)
        if self._reverse.get(key) is entry:
            del self._reverse[key]
        self.snat.release(entry.backend.ip, bport, port)

    def _state_changed(self, entry: Entry, was: EntryState) -> None:
        """``entry`` left state ``was``: release its backend if it closed, re-arm its timer.

        The pending check stays if it comes no later than the new expiry (it then
        re-arms itself for the expiry it finds); only an earlier expiry needs one.
        """
        state = entry.state
        if was in _ACTIVE and state not in _ACTIVE:
            entry.backend.active -= 1
        due = entry.last_seen + self._timeout_of[state]  # the table's expiry(entry)
        if due < entry.timer_at:
            self._arm(entry, due)

    def _arm(self, entry: Entry, due: float) -> None:
        entry.timer_at = due
        call_at(self.env, due, self._check_expiry, (entry, due))

    def _check_moot(self, check: tuple[Entry, float]) -> bool:
        """Whether an expiry check no longer applies (re-armed, or the entry is gone)."""
        entry, armed_for = check
        return entry.timer_at != armed_for or not self.table.contains(entry)

    def _check_expiry(self, check: tuple[Entry, float]) -> None:
        if self._check_moot(check):
            return
        entry = check[0]
        entry.timer_at = INF
        table = self.table
        if table.expire(entry, self.env.now):
            self._forget(entry)
        else:
            self._arm(entry, table.expiry(entry))

    def _forget(self, entry: Entry) -> None:
        """An entry left the table: release its backend and reverse mapping."""
        if entry.state in _ACTIVE:
            entry.backend.active -= 1
        self.table.remove(entry)
        if self.snat is not None:
            self._release_source(entry)
        elif self._nat:
            key = (entry.backend.ip, NAT_PORTS[entry.vport], entry.client_ip, entry.client_port)
            if self._reverse.get(key) is entry:
                del self._reverse[key]
