"""A layer-4 balancer's connection table: one entry per client connection.

Theory of operation: the table is what makes an L4 balancer *stateful* (concept
C5). Each entry maps a client's ``(address, port)`` to the backend the connection
was placed on, and follows the connection through the states Linux IPVS uses,
driven only by the TCP flags the balancer sees pass:

    SYN_RECV --client ACK--> ESTABLISHED --FIN (either way)--> FIN_WAIT
    FIN_WAIT --FINs from both sides, then an ACK--> TIME_WAIT
    any state --RST--> CLOSE

An entry that has seen no packet for its state's timeout expires (IPVS defaults:
established 900 s, SYN received 60 s, FIN wait 120 s, TIME_WAIT 120 s, close
10 s). A SYN that finds an entry in TIME_WAIT or CLOSE is a new connection reusing
the client port, so the old entry is replaced. A full table refuses new
connections.

The class is sans-IO: it takes ``now`` and never schedules anything. Its
:meth:`expiry` tells the caller when to come back and call :meth:`expire`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lbsim.net.segment import ACK, FIN, RST, SYN

INF = float("inf")


class EntryState(enum.Enum):
    """States of a connection-table entry (as in Linux IPVS)."""

    __hash__ = object.__hash__

    SYN_RECV = "SYN_RECV"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT = "FIN_WAIT"
    TIME_WAIT = "TIME_WAIT"
    CLOSE = "CLOSE"


_SYN_RECV = EntryState.SYN_RECV
_ESTABLISHED = EntryState.ESTABLISHED
_FIN_WAIT = EntryState.FIN_WAIT
_TIME_WAIT = EntryState.TIME_WAIT
_CLOSE = EntryState.CLOSE

#: Every state's name, in the order of :class:`EntryState` (and of a table's counts).
_STATE_NAMES = tuple(state.value for state in EntryState)

#: Packet direction as seen by the balancer.
FROM_CLIENT = 1
FROM_BACKEND = 2


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Idle timeout of an entry in each state, seconds (IPVS defaults)."""

    established: float = 900.0
    syn_recv: float = 60.0
    fin_wait: float = 120.0
    time_wait: float = 120.0
    close: float = 10.0

    def of(self, state: EntryState) -> float:
        """The timeout for ``state``."""
        return {
            _ESTABLISHED: self.established,
            _SYN_RECV: self.syn_recv,
            _FIN_WAIT: self.fin_wait,
            _TIME_WAIT: self.time_wait,
            _CLOSE: self.close,
        }[state]


class Entry:
    """One connection in the table.

    Attributes:
        client_ip, client_port: The client end of the connection.
        backend: Where it was placed (whatever the balancer uses: a BackendRef).
        state: Current :class:`EntryState`.
        created: When its SYN arrived.
        last_seen: When its last packet passed.
        fins: Bit ``FROM_CLIENT`` / ``FROM_BACKEND`` once that side sent FIN.
        timer_at: Owned by the caller: when its pending expiry check is due.
        packets: Packets forwarded for it.
    """

    __slots__ = (
        "backend",
        "client_ip",
        "client_port",
        "created",
        "fins",
        "last_seen",
        "packets",
        "state",
        "timer_at",
        "vport",
    )

    def __init__(self, client_ip: int, client_port: int, backend: Any, now: float) -> None:
        self.client_ip = client_ip
        self.client_port = client_port
        self.vport = 0  # the VIP port the client connected to (set by the balancer)
        self.backend = backend
        self.state = _SYN_RECV
        self.created = now
        self.last_seen = now
        self.fins = 0
        self.timer_at = INF
        self.packets = 0

    def __repr__(self) -> str:
        return f"Entry({self.client_ip}:{self.client_port} -> {self.backend}, {self.state.value})"


class ConnectionTable:
    """Entries by client ``(ip, port)``, with states, timeouts and a capacity.

    Attributes:
        timeouts: Per-state idle timeouts.
        capacity: Most entries at once (None: unlimited).
        peak: Largest number of entries seen.
        refused: New connections refused because the table was full.
        expired: Entries removed by a timeout (rather than replaced).
    """

    def __init__(self, timeouts: Timeouts | None = None, capacity: int | None = None) -> None:
        self.timeouts = timeouts or Timeouts()
        self.capacity = capacity
        self._entries: dict[tuple[int, int], Entry] = {}
        self.peak = 0
        self.refused = 0
        self.expired = 0
        #: Idle timeout by state (what :meth:`expiry` adds to ``last_seen``).
        self.timeout_of = {state: self.timeouts.of(state) for state in EntryState}
        self._counts = dict.fromkeys(EntryState, 0)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def get(self, client_ip: int, client_port: int) -> Entry | None:
        """The entry of a client connection, if any."""
        return self._entries.get((client_ip, client_port))

    @property
    def lookup(self) -> Callable[[tuple[int, int]], Entry | None]:
        """``lookup((client_ip, client_port))``: :meth:`get` as one dict lookup (hot path)."""
        return self._entries.get

    def open(self, client_ip: int, client_port: int, backend: Any, now: float) -> Entry | None:
        """Add an entry for a new connection (a SYN), or return None if the table is full.

        An old entry for the same client port in TIME_WAIT or CLOSE is replaced.
        """
        key = (client_ip, client_port)
        old = self._entries.get(key)
        full = self.capacity is not None and len(self._entries) - (old is not None) >= self.capacity
        if full:
            self.refused += 1
            return None
        if old is not None:
            self.remove(old)
        entry = Entry(client_ip, client_port, backend, now)
        self._entries[key] = entry
        self._counts[_SYN_RECV] += 1
        if len(self._entries) > self.peak:
            self.peak = len(self._entries)
        return entry

    def reusable(self, entry: Entry) -> bool:
        """Whether a new SYN from the same client port may replace ``entry``."""
        return entry.state is _TIME_WAIT or entry.state is _CLOSE

    def observe(self, entry: Entry, flags: int, direction: int, now: float) -> EntryState | None:
        """Update ``entry`` for a packet with TCP ``flags`` passing in ``direction``.

        Returns:
            The state the entry left, if the packet changed it (else None).
        """
        entry.last_seen = now
        entry.packets += 1
        state = entry.state
        new = state
        if flags & RST:
            new = _CLOSE
        elif flags & FIN:
            entry.fins |= direction
            if state is _ESTABLISHED or state is _SYN_RECV:
                new = _FIN_WAIT
        elif state is _SYN_RECV:
            if direction == FROM_CLIENT and flags & ACK and not flags & SYN:
                new = _ESTABLISHED
        elif state is _FIN_WAIT and entry.fins == FROM_CLIENT | FROM_BACKEND and flags & ACK:
            new = _TIME_WAIT
        if new is state:
            return None
        # set_state(), inline: a call saved on each of a connection's state changes.
        if self._entries.get((entry.client_ip, entry.client_port)) is entry:
            counts = self._counts
            counts[state] -= 1
            counts[new] += 1
        entry.state = new
        return state

    def set_state(self, entry: Entry, state: EntryState) -> None:
        """Move ``entry`` to ``state`` (for balancers that track TCP state themselves)."""
        if self._entries.get((entry.client_ip, entry.client_port)) is entry:  # contains()
            counts = self._counts
            counts[entry.state] -= 1
            counts[state] += 1
        entry.state = state

    def expiry(self, entry: Entry) -> float:
        """When ``entry`` expires unless another packet passes."""
        return entry.last_seen + self.timeout_of[entry.state]

    def expire(self, entry: Entry, now: float) -> bool:
        """Remove ``entry`` if its timeout has run out at ``now``; say whether it did."""
        if self.expiry(entry) > now:
            return False
        if self.contains(entry):
            self.remove(entry)
            self.expired += 1
        return True

    def discard(self) -> None:
        """The run is over: drop every entry at once (counts and peak are kept)."""
        self._entries.clear()

    def remove(self, entry: Entry) -> None:
        """Remove ``entry`` now (if it is still in the table)."""
        key = (entry.client_ip, entry.client_port)
        if self._entries.get(key) is entry:
            del self._entries[key]
            self._counts[entry.state] -= 1

    def contains(self, entry: Entry) -> bool:
        """Whether ``entry`` is (still) the table's entry for its client port."""
        return self._entries.get((entry.client_ip, entry.client_port)) is entry

    def counts(self) -> dict[str, int]:
        """Number of entries in each state."""
        return dict(zip(_STATE_NAMES, self._counts.values(), strict=True))

    def snapshot(self, now: float) -> list[dict[str, Any]]:
        """The live table as plain rows (for a DataFrame in a notebook)."""
        return [
            {
                "client_ip": entry.client_ip,
                "client_port": entry.client_port,
                "backend": getattr(entry.backend, "name", entry.backend),
                "state": entry.state.value,
                "age": now - entry.created,
                "idle": now - entry.last_seen,
                "expires_in": self.expiry(entry) - now,
                "packets": entry.packets,
            }
            for entry in self._entries.values()
        ]
