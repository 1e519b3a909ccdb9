"""A one-way link: serialization at bandwidth, propagation delay, drop-tail queue.

Theory of operation: a link is a FIFO transmitter followed by a wire. It keeps one
number of state, ``busy_until``, the time its transmitter finishes the last frame
it accepted. A segment handed to :meth:`Link.send` at time ``t`` starts at
``max(t, busy_until)``, occupies the transmitter for ``wire_bytes * 8 / bandwidth``
and arrives ``latency`` later. The backlog in bytes at ``t`` is therefore
``(busy_until - t) * bandwidth / 8``; a segment that would push it past the queue
capacity is dropped (drop-tail). A link may also lose segments at random
(``loss``) or carry nothing at all for a while (``down``, an outage).

Delivery costs one scheduled SimPy event per segment and no process. Because a link
is FIFO with a fixed latency, arrival times on it never decrease, so the link keeps
its segments in flight in a queue of its own and only the *head* is in SimPy's
event queue: the link object itself is that event (SimPy processes any object with
``callbacks``, ``_ok`` and ``_value``). When it fires, the head segment goes to the
receiving node, with its arrival time (so receivers never read the clock on the
hot path), and the link re-enters SimPy's queue for the next arrival. This saves
allocating an event object per segment; and when the next entry SimPy would pop is a
link, :meth:`Link._fire` delivers it itself, in the same order, without a SimPy step.
The head segment sits in a slot of its own (``_head``), out of the queue of the
segments behind it: most links carry one segment at a time at request level (and
many at segment level), and such a segment then costs no queue append and pop.

Wire bytes follow Ethernet: the IPv4 packet plus 18 bytes of header and FCS
(padded to the 64-byte minimum frame) plus 20 bytes of preamble and inter-frame
gap. The MTU bounds the IPv4 packet.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush, heapreplace
from typing import Any

import simpy
from simpy.events import NORMAL

from lbsim.net.segment import (
    ACK_RIDES,
    ACKS_SHIFT,
    CARRIED_MASK,
    FIN,
    FIN_ACK_COUNTED,
    HEADERS,
    SYN,
    SYN_OPTIONS,
    Segment,
)

#: Ethernet header (14) and frame check sequence (4).
ETHERNET_FRAMING = 18
#: Smallest Ethernet frame, header and FCS included.
ETHERNET_MIN_FRAME = 64
#: Preamble and start delimiter (8) plus the inter-frame gap (12).
ETHERNET_GAP = 20

_SYN_HEADERS = HEADERS + SYN_OPTIONS
_OVERHEAD = ETHERNET_FRAMING + ETHERNET_GAP
#: Bytes a full segment adds on the wire beyond its payload: IPv4 and TCP headers,
#: Ethernet header, FCS, preamble and inter-frame gap.
SEGMENT_OVERHEAD = HEADERS + _OVERHEAD
#: IPv4 packets shorter than this are padded up to the minimum frame.
_PAD_BELOW = ETHERNET_MIN_FRAME - ETHERNET_FRAMING
_MIN_WIRE = ETHERNET_MIN_FRAME + ETHERNET_GAP

#: A receiver: called with each segment and its arrival time (the current time).
Deliver = Callable[[Segment, float], None]
Tracer = Callable[["Link", Segment, float, bool], None]


def wire_bytes(ip_length: int) -> int:
    """Bytes a packet occupies on an Ethernet wire, gap included.

    Args:
        ip_length: IPv4 total length in bytes.

    Returns:
        Frame bytes (at least the minimum frame) plus preamble and gap.
    """
    return max(ip_length + ETHERNET_FRAMING, ETHERNET_MIN_FRAME) + ETHERNET_GAP


class Link:
    """A one-way link between two nodes.

    Attributes:
        name: Label used in traces, e.g. ``"browsers-h3>l4"``.
        side: ``"client"`` or ``"backend"`` (which side of the balancer it is on).
        latency: Propagation delay in seconds.
        bandwidth: Bits per second.
        mtu: Largest IPv4 packet in bytes.
        queue_bytes: Transmit buffer capacity in bytes.
        sent: Segments accepted (each is delivered exactly once).
        dropped: Segments not delivered: queue full, lost at random, or link down.
        lost: Segments lost at random (``loss``) or while the link was down.
        loss: Probability that a segment is lost.
        down: Whether the link carries nothing (an outage).
        tracer: Called as ``tracer(link, segment, time, dropped)`` for each segment
            offered, when segment tracing is on.
    """

    __slots__ = (
        "_busy_until",
        "_byte_rate",
        "_byte_time",
        "_deliver",
        "_eid",
        "_env",
        "_fire_callbacks",
        "_head",
        "_in_flight",
        "_lossy",
        "_queue",
        "_rng",
        "bandwidth",
        "callbacks",
        "down",
        "dropped",
        "feed_byte_time",
        "latency",
        "loss",
        "lost",
        "mtu",
        "name",
        "queue_bytes",
        "sent",
        "side",
        "tracer",
    )

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        side: str,
        *,
        latency: float,
        bandwidth: float,
        mtu: int,
        queue_bytes: int,
        deliver: Deliver | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        if latency < 0 or bandwidth <= 0 or mtu <= HEADERS or queue_bytes < mtu:
            raise ValueError(f"invalid link parameters for {name}")
        self._env = env
        # SimPy 4 keeps its event queue and tie-breaking counter here.
        self._queue: list[Any] = env._queue
        self._eid: Any = env._eid
        self.name = name
        self.side = side
        self.latency = latency
        self.bandwidth = bandwidth
        self.mtu = mtu
        self.queue_bytes = queue_bytes
        self._byte_time = 8.0 / bandwidth
        self._byte_rate = bandwidth / 8.0
        self._busy_until = 0.0
        #: The segment in flight that arrives first, and when (None: nothing in flight);
        #: it is the one this link stands for in SimPy's queue.
        self._head: tuple[float, Segment] | None = None
        #: The segments in flight behind the head, in arrival order.
        self._in_flight: deque[tuple[float, Segment]] = deque()
        self._deliver: Deliver = _unattached
        # The link is its own SimPy event (see the module docstring); these three
        # attributes are what SimPy's event loop reads.
        self.callbacks: list[Callable[[Any], None]] | None = None
        self._fire_callbacks: list[Callable[[Any], None]] = [self._fire]
        self.sent = 0
        self.dropped = 0
        self.lost = 0
        self.loss = 0.0
        self.down = False
        self._lossy = False
        self._rng: random.Random | None = None
        self.tracer = tracer
        #: Request level only: seconds per byte of the link that feeds this one
        #: through a forwarding node (0: none), see :class:`CarrierLink`.
        self.feed_byte_time = 0.0
        if deliver is not None:
            self.attach(deliver)

    # SimPy reads these two when it processes the link as an event.
    _ok = True
    _value = None

    def attach(self, deliver: Deliver) -> None:
        """Set the function that receives segments (and their arrival time) at the far end."""
        self._deliver = deliver

    def send(self, seg: Segment, ready: float | None = None) -> bool:
        """Accept a segment for transmission.

        Args:
            seg: The segment; its IPv4 length must fit the MTU.
            ready: When the sender has it ready (defaults to now); a node that spent
                CPU time on the segment passes the time that work finished.

        Returns:
            ``True`` if queued, ``False`` if dropped because the queue was full.

        Raises:
            ValueError: If the packet exceeds the link MTU (a sender bug).
        """
        now = self._env._now
        t0 = now if ready is None or ready < now else ready
        ip_len = seg[8] + (_SYN_HEADERS if seg[9] else HEADERS)  # length, mss
        if ip_len > self.mtu:
            raise ValueError(f"{self.name}: {ip_len}-byte packet exceeds MTU {self.mtu}")
        if self._lossy and (self.down or self._rng.random() < self.loss):  # type: ignore[union-attr]
            self.lost += 1
            self.dropped += 1
            if self.tracer is not None:
                self.tracer(self, seg, t0, True)
            return False
        wire = ip_len + _OVERHEAD if ip_len > _PAD_BELOW else _MIN_WIRE
        start = self._busy_until
        if start > t0:
            if (start - t0) * self._byte_rate + wire > self.queue_bytes:
                self.dropped += 1
                if self.tracer is not None:
                    self.tracer(self, seg, t0, True)
                return False
        else:
            start = t0
        done = start + wire * self._byte_time
        self._busy_until = done
        self.sent += 1
        if self.tracer is not None:
            self.tracer(self, seg, start, False)
        arrival = done + self.latency
        if self._head is None:  # the link enters SimPy's queue for this segment
            self._head = (arrival, seg)
            self.callbacks = self._fire_callbacks
            heappush(self._queue, (arrival, NORMAL, next(self._eid), self))
        else:
            self._in_flight.append((arrival, seg))
        return True

    def _fire(self, _event: Any) -> None:
        """The head segment has arrived: hand it over, then wait for the next one.

        This is also a small event loop of its own for links, which saves SimPy's
        per-event overhead on most deliveries without changing their order. The
        next segment's place in SimPy's queue, ``(arrival, NORMAL, eid)``, is taken
        (its ``eid`` drawn) before the delivery, exactly as if the link were pushed
        back at once. After the delivery, SimPy would pop the smallest entry of its
        queue next: if that is this link's next segment, it is delivered here
        without touching the queue; if it is another link, that link is popped (in
        one sift with pushing this one back) and its head delivered here, with the
        clock set as SimPy sets it. Anything else is left to SimPy.
        """
        queue = self._queue
        eid = self._eid
        env = self._env
        link = self
        while True:
            arrival, seg = link._head  # type: ignore[misc]
            in_flight = link._in_flight
            if in_flight:
                nxt = link._head = in_flight.popleft()
                entry = (nxt[0], NORMAL, next(eid), link)
                link._deliver(seg, arrival)
                if queue:
                    head = queue[0]
                    if head < entry:  # eids are unique: links are never compared
                        if head[3].__class__ not in _LINK_CLASSES:
                            link.callbacks = link._fire_callbacks
                            heappush(queue, entry)
                            return
                        head = heapreplace(queue, entry)
                        link.callbacks = link._fire_callbacks
                        entry = head
                env._now = entry[0]
                link = entry[3]
            else:
                link._head = None
                link._deliver(seg, arrival)
                if not queue:
                    return
                head = queue[0]
                if head[3].__class__ not in _LINK_CLASSES:
                    return
                heappop(queue)
                env._now = head[0]
                link = head[3]

    def set_loss(self, rate: float, rng: random.Random) -> None:
        """Lose each segment with probability ``rate`` (drawn from ``rng``)."""
        self.loss = rate
        self._rng = rng
        self._lossy = rate > 0 or self.down

    def set_down(self, down: bool, rng: random.Random | None = None) -> None:
        """Take the link down (every segment lost) or bring it back."""
        self.down = down
        if self._rng is None:
            self._rng = rng or random.Random(0)
        self._lossy = down or self.loss > 0

    def backlog_bytes(self) -> float:
        """Bytes waiting in (or being serialised from) the transmit queue now."""
        return max(0.0, self._busy_until - self._env._now) * self._byte_rate

    @property
    def env(self) -> simpy.Environment:
        """The environment whose clock the link runs on."""
        return self._env

    @property
    def in_flight(self) -> int:
        """Segments accepted but not yet delivered."""
        return 0 if self._head is None else 1 + len(self._in_flight)


def to_carrier_link(link: Link) -> None:
    """Make a freshly built link a :class:`CarrierLink` (it keeps its identity)."""
    if type(link) is Link:
        link.__class__ = CarrierLink


def _unattached(seg: Segment, now: float) -> None:
    raise RuntimeError("link has no receiver attached")


class CarrierLink(Link):
    """A link for request level, where one carrier stands for ``k`` segments.

    At request level (``fidelity: request``) a segment may be a *carrier* (see
    :mod:`lbsim.transport.message`) holding the payload of ``k`` full segments. This
    link serialises a data carrier as ``k`` frames back to back -- its payload plus
    ``k`` times :data:`SEGMENT_OVERHEAD` -- and a pure-ACK carrier as one minimum
    frame (at segment level ACKs are spread over the flight, so their wire time is
    not bunched up here), and counts ``k`` segments sent. It has no MTU check (a
    carrier is larger than any packet) and never drops on a full queue: request
    level refuses queue limits and random loss (:mod:`lbsim.run.fidelity`), so a
    carrier always gets through, FIFO behind what is already on the link; an
    outage still loses everything sent while the link is down.

    A link fed through a forwarding node (a balancer relaying or forwarding what
    arrived on another link, whose byte time is :attr:`feed_byte_time`) starts a
    carrier as early as its first segment would have arrived -- ``(k - 1)/k`` of
    the carrier's wire time on the feeding link before its last byte did -- and
    finishes no earlier than one segment's time after that last byte: the
    pipelining of segments through a store-and-forward hop, in closed form.
    """

    __slots__ = ()

    def send(self, seg: Segment, ready: float | None = None) -> bool:
        """Accept a segment or carrier for transmission (never dropped for space)."""
        now = self._env._now
        t0 = now if ready is None or ready < now else ready
        if self._lossy:  # an outage event: everything sent meanwhile is lost
            self.lost += 1
            self.dropped += 1
            return False
        n = seg.length
        w = seg.wscale
        flags = seg.flags
        if w <= 1 or flags & SYN:  # not a carrier: carried() and represented() inline
            k = 1
            rep = 2 if n and not flags & FIN else 1
        else:  # a carrier: carried() and represented() inline (a call each saved)
            k = (w & CARRIED_MASK) or 1
            rides = 1 if w & ACK_RIDES else 0
            if n and not flags & FIN:
                rep = 2 * k + rides - (w >> ACKS_SHIFT)
            else:
                rep = k + rides + (1 if w & FIN_ACK_COUNTED else 0)
        if k > 1 and n:
            wire = n + k * SEGMENT_OVERHEAD
        else:
            ip_len = n + (_SYN_HEADERS if seg.mss else HEADERS)
            wire = ip_len + _OVERHEAD if ip_len > _PAD_BELOW else _MIN_WIRE
        if w & ACK_RIDES and not self.feed_byte_time:
            # The handshake's last ACK went just ahead of it (on a link fed through
            # a forwarding node the ACK was sent while the data was still arriving).
            wire += _MIN_WIRE
        start = self._busy_until
        byte_time = self._byte_time
        if k > 1 and self.feed_byte_time:
            # Cut-through: at segment level this link starts on the first segment
            # while the feeding link is still delivering the rest.
            early = t0 - wire * (k - 1) / k * self.feed_byte_time
            if start < early:
                start = early
            done = start + wire * byte_time
            last = t0 + wire / k * byte_time  # the last segment cannot leave before it came
            if done < last:
                done = last
        else:
            if start < t0:
                start = t0
            done = start + wire * byte_time
        self._busy_until = done
        self.sent += rep
        arrival = done + self.latency
        if self._head is None:  # the link enters SimPy's queue for this carrier
            self._head = (arrival, seg)
            self.callbacks = self._fire_callbacks
            heappush(self._queue, (arrival, NORMAL, next(self._eid), self))
        else:
            self._in_flight.append((arrival, seg))
        return True


#: Classes whose queue entries :meth:`Link._fire` may process itself.
_LINK_CLASSES = frozenset((Link, CarrierLink))
