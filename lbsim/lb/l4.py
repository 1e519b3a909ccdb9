"""A layer-4 balancer that forwards packets: NAT and direct server return (DSR).

Theory of operation: the balancer owns the virtual address (VIP). It never
terminates TCP and never looks past the TCP header (concept C6). The first segment
of a new connection (a SYN to the VIP) makes it choose a backend with its
per-connection algorithm and open an entry in its connection table
(:mod:`lbsim.lb.conntable`, concept C5). From then on every segment of that
connection goes to the same backend (C7), forwarded the moment it arrives --
cut-through, nothing buffered (C9):

* ``nat``: inbound, destination VIP:80 becomes backend:8080; outbound (the backend's
  replies come back through the balancer), source backend:8080 becomes VIP:80 (C8).
* ``dsr``: inbound segments keep VIP:80 as destination (only the link-layer hop
  changes; the backend has the VIP configured locally) and the backend answers
  straight to the client, so the balancer sees one direction only and tracks the
  connection from client packets alone.

SYNs passing through have their MSS option clamped to fit the connection's own
path (``mss_clamp``): the smaller of that client's access MSS and the chosen
backend's link MSS, so clients on different MTUs keep their own segment sizes.
A segment that is not a SYN and matches no entry is dropped (``stray``), as
Linux IPVS does by default -- unless ``pick_on_miss`` is set: then it is placed
like a new connection, by the algorithm, and an entry opened. That is what the
instances of an L4 tier behind ECMP do (Maglev: "selects a backend for each
packet using consistent hashing ... then records the selection in a local
connection tracking table", Eisenbud et al., NSDI 2016, section 3.3): when the
router moves a flow to another instance, the new instance forwards it to the
backend its own pick names. With a consistent hash over the same backends that
is the backend the flow had, and the connection survives; with round robin it
is usually another one, which answers the stranger's segment with RST.
A full table refuses a new connection with RST. Table entries
expire after their state's idle timeout; the expiry timer is lazy: a state
change re-arms it only if the entry could now expire sooner, and the first check
of every new entry (all due a SYN_RECV timeout after their SYN) shares one
pending event (:mod:`lbsim.lb.deadlines`). Each forwarded segment costs
``per_segment`` of CPU. Keeping the table's entries (expiry, forgetting, full-NAT
source ports) is :mod:`lbsim.lb.l4_table`'s part.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import simpy

from lbsim.host.cpu import Cpu
from lbsim.host.stack import TcpStack
from lbsim.lb.algorithms import Algorithm
from lbsim.lb.backends import BackendRef
from lbsim.lb.base import Wiring
from lbsim.lb.conntable import (
    FROM_BACKEND,
    FROM_CLIENT,
    ConnectionTable,
    Entry,
    EntryState,
)
from lbsim.lb.deadlines import DeadlineQueue
from lbsim.lb.direct_return import DirectReturn
from lbsim.lb.l4_table import TableKeeper
from lbsim.lb.placement import ConnectionPlacer
from lbsim.lb.snat import SourceNat
from lbsim.net.addresses import LB_INSIDE, NAT_PORTS, NAT_PORTS_BACK, VIP, ip_text
from lbsim.net.link import Link, wire_bytes
from lbsim.net.segment import (
    ACK,
    ACK_RIDES,
    ACKS_SHIFT,
    CARRIED_MASK,
    FIN,
    FIN_ACK_COUNTED,
    RST,
    SEQ_MASK,
    SYN,
    Segment,
)
from lbsim.records import Recorder
from lbsim.streams import stream_seed

_CONTROL = SYN | FIN | RST
_ESTABLISHED = EntryState.ESTABLISHED
_SYN_RECV = EntryState.SYN_RECV
_ACTIVE = (EntryState.SYN_RECV, EntryState.ESTABLISHED)
_new_tuple = tuple.__new__
#: Bits of a minimum Ethernet frame on the wire (a pure ACK).
_MIN_FRAME_BITS = wire_bytes(0) * 8.0


class L4Balancer(TableKeeper, ConnectionPlacer):
    """Layer-4 packet-forwarding balancer (``nat`` or ``dsr`` mode).

    Attributes:
        mode: ``"nat"`` or ``"dsr"``.
        stray: Segments that matched no entry and were dropped.
        clamped: SYNs whose MSS option was lowered.
        client_mss: MSS of each client's access path, when SYNs are clamped (else None).
        router: With ``dsr``, the router backends answer clients through.
        pick_on_miss: Place mid-connection segments that match no entry (see the
            module docstring) instead of dropping them.
        midflow_picks: Connections placed from a mid-connection segment.
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        backends: Sequence[BackendRef],
        algorithm: Algorithm,
        client_links: dict[int, Link],
        *,
        mode: str,
        table: ConnectionTable,
        cpu: Cpu,
        per_segment: float,
        recorder: Recorder,
        client_mss: dict[int, int] | None = None,
        groups: Collection[str] | None = None,
        wiring: Wiring | None = None,
        vip: int = VIP,
        inside: int = LB_INSIDE,
        pick_on_miss: bool = False,
    ) -> None:
        if mode not in ("nat", "dsr"):
            raise ValueError(f"unknown forwarding mode {mode!r}")
        super().__init__(backends, algorithm, table, groups)
        self.env = env
        self.name = name
        self.mode = mode
        self.client_links = client_links
        self.cpu = cpu
        self.per_segment = per_segment
        self.recorder = recorder
        self.client_mss = client_mss
        self.stray = 0
        self.clamped = 0
        self.pick_on_miss = pick_on_miss
        self.midflow_picks = 0
        self.buffered_bytes = 0
        self._nat = mode == "nat"
        self._reverse: dict[tuple[int, int, int, int], Entry] = {}
        # Bound methods for the per-segment path (one attribute lookup fewer each).
        self._cpu_run = cpu.run
        #: The CPU's one core (its list of free times) when it has one: receive()
        #: then runs its jobs inline.
        self._one_core: list[float] | None = cpu.free if cpu.cores == 1 else None
        #: Request level (see to_request_level): segments may be carriers.
        self._carriers = False
        self._ride_ack_time: dict[int, float] = {}
        self._lookup = table.lookup
        self._table_observe = table.observe
        self._timeout_of = table.timeout_of
        #: First expiry checks of new entries: one length (SYN_RECV), one pending event.
        self._new_entry_checks = DeadlineQueue(env, self._check_expiry, self._check_moot)
        self.down_until = 0.0  # restarting: everything is dropped until then
        #: Health probes' TCP stack (the balancer's inside address), if checks are on.
        self.probe_stack: TcpStack | None = None
        self._wiring = wiring
        self.vip = vip
        self.inside = inside
        self.client_receive = self.receive
        self.backend_receive = self.receive
        self.router: DirectReturn | None = None
        #: Full NAT (:mod:`lbsim.lb.snat`): source ports, and each connection's one.
        self.snat: SourceNat | None = None
        self._snat_port: dict[tuple[int, int], int] = {}
        if mode == "dsr":
            # Backends answer straight to clients through a router, and accept the
            # VIP as a local address.
            self.router = DirectReturn(client_links, inside)
            self.backend_receive = self.router.receive
            self.vip_on_backends = True

    @classmethod
    def from_wiring(cls, wiring: Wiring) -> L4Balancer:
        """The forwarder a scenario's balancer entry describes, wired in."""
        cfg = wiring.config
        lb = cls(
            wiring.env,
            cfg.name,
            wiring.eligible(),
            wiring.algorithm(4),
            wiring.client_links,
            mode=cfg.mode or "nat",
            table=wiring.table(),
            cpu=wiring.cpu,
            per_segment=cfg.costs.per_segment,
            recorder=wiring.recorder,
            client_mss=wiring.client_mss if cfg.mss_clamp else None,
            groups=cfg.groups,
            wiring=wiring,
            vip=wiring.vip,
            inside=wiring.inside,
            pick_on_miss=wiring.pick_on_miss,
        )
        if wiring.source_nat:
            lb.enable_source_nat()
        return lb

    # ------------------------------------------------------------ interface

    def enable_source_nat(self) -> None:
        """Also rewrite the source to the inside address (full NAT; ``nat`` mode only)."""
        if not self._nat:
            raise ValueError("source NAT needs mode nat")
        self.snat = SourceNat(self.inside)

    def discard(self) -> None:
        """Empty the connection table's indexes too (one entry per connection seen lately)."""
        super().discard()
        self._reverse.clear()
        self._snat_port.clear()
        self._new_entry_checks.discard()

    def stacks(self) -> list[TcpStack]:
        """Only the health probes' stack, if there is one: forwarding needs none."""
        return [] if self.probe_stack is None else [self.probe_stack]

    def health_stack(self) -> TcpStack:
        """A NAT/DSR balancer has no TCP stack of its own: probes get one."""
        if self.probe_stack is None:
            wiring = self._wiring
            if wiring is None:
                raise RuntimeError(f"{self.name}: no wiring to make a probe stack from")
            probe = TcpStack(
                self.env,
                f"{self.name}-probe",
                wiring.params,
                mss=min((b.mss for b in wiring.backends), default=wiring.default_mss),
                salt=stream_seed(wiring.seed, "isn", "probe"),
                routes={r.ip: r.link for r in wiring.backends},
            )
            self.probe_stack = probe
            if self.router is not None:
                self.router.probe_stack = probe
        return self.probe_stack

    def add_backend(self, backend: BackendRef) -> bool:
        """Scale out; health probes learn the way to the new backend."""
        if not super().add_backend(backend):
            return False
        if self.probe_stack is not None:
            self.probe_stack.add_route(backend.ip, backend.link)
        return True

    def counters(self) -> dict[str, float]:
        """Table counters, stray segments dropped and SYNs clamped."""
        out = super().counters()
        out["lb.stray_segments"] = self.stray
        out["lb.mss_clamped"] = self.clamped
        if self.pick_on_miss:
            out["lb.midflow_picks"] = self.midflow_picks
        return out

    # ------------------------------------------------------------ forwarding

    def to_request_level(self, ride_ack_time: dict[int, float]) -> None:
        """Request level: charge each carrier for every segment it stands for.

        A carrier standing for ``k`` segments (:mod:`lbsim.transport.message`)
        costs the balancer the work of all of them and of the ACKs they draw that
        would pass it, as at segment level; a NAT also tells its table when the
        counted ACK of a closing FIN would pass. ``ride_ack_time`` gives, by source
        address, how long before a carrier the handshake's last ACK riding on it
        would have arrived (one minimum frame on the sender's link).
        """
        self._carriers = True
        self._ride_ack_time = ride_ack_time
        if self.router is not None:
            self.router.charge_to(self.cpu, self.per_segment, ride_ack_time)

    def receive(self, seg: Segment, now: float) -> None:
        """Forward one segment arriving at ``now`` (every link into the balancer delivers here).

        One body serves both levels: at request level (:meth:`to_request_level`)
        the segment may be a carrier, and the balancer pays, in the same CPU jobs
        as at segment level, for the segments it stands for (the handshake's last
        ACK riding on it, its ``k`` segments, the ACKs they draw) and then forwards
        it as it would a segment. The usual case -- a segment of a known entry
        whose state it does not change, on the usual single core -- runs inline
        (CPU job, entry touch, rewrite, send); state changes, new connections,
        clamping and more cores take the general helpers.
        """
        # Every field in a local at once: rebuilding the segment from locals is
        # cheaper than slicing and splicing it (``*seg[4:]``).
        src, dst, sport, dport, seq, ack, flags, window, length, mss, wscale, ends = seg
        cost = self.per_segment
        more = 0  # request level: segments (and ACKs) the carrier stands for beyond itself
        rides = 0  # request level: the handshake's last ACK came just before the carrier
        if self._carriers and cost:
            if wscale <= 1 or flags & SYN:  # not a carrier (a SYN's wscale is an option)
                if length and self._nat and not flags & (SYN | FIN):
                    more = 1  # the ACK it draws passes a NAT too
            else:
                k = (wscale & CARRIED_MASK) or 1
                rides = wscale & ACK_RIDES
                if not self._nat:  # DSR: the ACKs of a client's data skip the balancer
                    more = k - 1
                elif length and not flags & FIN:  # data: its k segments and their ACKs
                    more = 2 * k - 1 - (wscale >> ACKS_SHIFT)
                else:  # its k segments, and the ACK a closing FIN draws
                    more = k - 1 + (1 if wscale & FIN_ACK_COUNTED else 0)
        # CPU jobs, in order: the riding ACK (when it arrived), this segment, then
        # one job for the ACKs a carrier draws (they pass later, after it).
        core = self._one_core
        if core is None or now < self.down_until:
            run = self._cpu_run
            if rides:
                run(now - self._ride_ack_time[src], cost)
            if now < self.down_until:  # restarting: nothing is forwarded
                if more > 0:
                    run(now, cost * more)  # the ACKs it draws still pass (and die)
                return
            ready = run(now, cost)
            if more > 0:
                run(now, cost * more)
        else:
            # Cpu.run for one core, inline and float for float (a call per segment
            # saved).
            cpu = self.cpu
            start = core[0]
            if rides:
                at = now - self._ride_ack_time[src]
                if start < at:
                    start = at
                cpu.busy += cost
                cpu.waited += start - at
                cpu.jobs += 1
                start += cost
            if start < now:
                start = now
            ready = start + cost
            cpu.busy += cost
            cpu.waited += start - now
            cpu.jobs += 1
            if more > 0:
                work = cost * more
                core[0] = ready + work
                cpu.busy += work
                cpu.waited += ready - now
                cpu.jobs += 1
            else:
                core[0] = ready
        vip = self.vip
        if dst == vip:
            entry = self._lookup((src, sport))
            if entry is None or (flags & SYN and not flags & ACK and self.table.reusable(entry)):
                entry = self._new_connection(seg, now, entry)
                if entry is None:
                    return
            state = entry.state
            if (state is _ESTABLISHED and not flags & _CONTROL) or (
                state is _SYN_RECV and flags & _CONTROL == SYN
            ):  # what observe() would do: count the packet, change nothing
                entry.last_seen = now
                entry.packets += 1
            else:
                was = self._table_observe(entry, flags, FROM_CLIENT, now)
                if was is not None:
                    self._state_changed(entry, was)
            backend = entry.backend
            if flags & SYN and self.client_mss is not None:
                limit = self.client_mss.get(src, backend.mss)
                if limit > backend.mss:
                    limit = backend.mss
                if mss > limit:
                    seg = self._clamp(seg, limit, now)
                    mss = limit
            if self._nat:
                # Destination NAT: VIP:80 -> backend:8080 (443 -> 8443), the rest unchanged.
                port = NAT_PORTS[dport]
                if self.snat is None:
                    seg = _new_tuple(
                        Segment,
                        (src, backend.ip, sport, port, seq, ack, flags, window, length, mss,
                         wscale, ends),
                    )  # fmt: skip
                else:  # full NAT: the source becomes the instance's address and port
                    nport = self._snat_port[(src, sport)]
                    seg = _new_tuple(
                        Segment,
                        (self.inside, backend.ip, nport, port, seq, ack, flags, window, length,
                         mss, wscale, ends),
                    )  # fmt: skip
            backend.link.send(seg, ready)
        else:
            entry = self._reverse.get((src, sport, dst, dport))
            if entry is None:
                if dst == self.inside and self.probe_stack is not None:
                    self.probe_stack.receive(seg, now)  # a backend answering a health probe
                else:
                    self.stray += 1
                return
            state = entry.state
            if (state is _ESTABLISHED and not flags & _CONTROL) or (
                state is _SYN_RECV and flags & _CONTROL == SYN
            ):  # what observe() would do: count the packet, change nothing
                entry.last_seen = now
                entry.packets += 1
            else:
                was = self._table_observe(entry, flags, FROM_BACKEND, now)
                if was is not None:
                    self._state_changed(entry, was)
            if self.snat is None:
                client, cport = dst, dport
            else:
                client, cport = entry.client_ip, entry.client_port
            if flags & SYN and self.client_mss is not None:
                backend = entry.backend
                limit = self.client_mss.get(client, backend.mss)
                if limit > backend.mss:
                    limit = backend.mss
                if mss > limit:
                    mss = self._clamp(seg, limit, now)[9]
            # Reverse NAT: backend:8080 -> VIP:80 (8443 -> 443) as the source.
            out = _new_tuple(
                Segment,
                (vip, client, NAT_PORTS_BACK[sport], cport, seq, ack, flags, window, length, mss,
                 wscale, ends),
            )  # fmt: skip
            self.client_links[client].send(out, ready)
            if wscale & FIN_ACK_COUNTED:  # request level: a closing FIN (never a SYN)
                self._closing_ack(entry, now)

    def _closing_ack(self, entry: Entry, now: float) -> None:
        """Request level: the client's ACK of a backend's closing FIN forwarded at ``now``.

        That ACK is counted, not sent (:data:`~lbsim.net.segment.FIN_ACK_COUNTED`);
        the table sees it as it would the segment, when it would pass: one round
        trip of a minimum frame over the client's link after the FIN.
        """
        link = self.client_links.get(entry.client_ip)
        at = now
        if link is not None:
            at += 2 * (link.latency + _MIN_FRAME_BITS / link.bandwidth)
        was = self._table_observe(entry, ACK, FROM_CLIENT, at)
        if was is not None:
            self._state_changed(entry, was)

    def _clamp(self, seg: Segment, limit: int, now: float) -> Segment:
        """Lower a SYN's MSS option to ``limit``, what fits this connection's path."""
        self.clamped += 1
        self.recorder.decide(
            now, self.name, "mss_clamp", connection=_client_conn(seg),
            before=seg.mss, after=limit,
        )  # fmt: skip
        return seg._replace(mss=limit)

    def _new_connection(self, seg: Segment, now: float, old: Entry | None) -> Entry | None:
        """Place a connection from its first segment; ``old``: the table's entry it replaces."""
        flags = seg.flags
        if not flags & SYN or flags & ACK:
            if not self.pick_on_miss or flags & RST:
                self.stray += 1  # not the start of a connection and no entry: drop
                return None
            self.midflow_picks += 1  # a flow moved here mid-connection: place it
        candidates = self._usable
        if candidates is None:
            candidates = self.usable_backends()
        if not candidates:
            self._refuse(seg)  # no backend to send it to: refuse the connection
            return None
        algorithm = self.algorithm
        key = self.placement_key(seg.src, seg.sport) if algorithm.uses_key else None
        backend = algorithm.pick(candidates, now, key)
        entry = self.table.open(seg.src, seg.sport, backend, now)
        if entry is None:
            self._refuse(seg)
            return None
        if old is not None:
            self._forget(old)
        backend.active += 1
        entry.vport = seg.dport
        self.placements[(seg.src, seg.sport)] = backend.name
        if self.snat is not None:
            if not self._source_nat(entry, backend, seg):
                return None
        elif self._nat:
            self._reverse[(backend.ip, NAT_PORTS[seg.dport], seg.src, seg.sport)] = entry
        due = entry.timer_at = now + self._timeout_of[_SYN_RECV]  # the table's expiry(entry)
        self._new_entry_checks.add(due, (entry, due), now)
        self.recorder.decide(
            now, self.name, "table_miss", connection=_client_conn(seg), backend=backend.name,
            mode=self.mode, algorithm=self.algorithm.name, candidates=len(candidates),
            active=backend.active,
        )  # fmt: skip
        return entry

    def _refuse(self, syn: Segment) -> None:
        """Table full: answer the SYN with RST from the VIP (connection refused)."""
        rst = Segment(
            self.vip, syn.src, syn.dport, syn.sport, 0, (syn.seq + 1) & SEQ_MASK, RST | ACK, 0, 0
        )
        self.client_links[syn.src].send(rst, self.env.now)

    # ------------------------------------------------------- backends, faults

    def restart(self, now: float, downtime: float) -> None:
        """The balancer restarts: its connection table is lost (and it is dark for a while).

        Packets of connections it placed before now match no entry and are dropped,
        so those connections stall until the clients give up (concept C5).
        """
        for entry in list(self.table):
            self._forget(entry)
        self._reverse.clear()
        self.down_until = now + downtime


def _client_conn(seg: Segment) -> str:
    """The client-side connection of a segment, as ``SegmentRecord.connection`` writes it.

    Client addresses (100.64.0.0/10) sort below the VIP, so the client comes first.
    """
    if seg.dst == VIP:
        return f"{ip_text(seg.src)}:{seg.sport}-{ip_text(VIP)}:{seg.dport}"
    return f"{ip_text(seg.dst)}:{seg.dport}-{ip_text(VIP)}:{NAT_PORTS_BACK[seg.sport]}"
