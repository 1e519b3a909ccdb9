"""Request-level TCP: each burst of stream bytes crosses the network as one carrier.

Theory of operation: at request level (``fidelity: request``) a connection keeps
the whole TCP life cycle of :class:`~lbsim.transport.tcp.TcpConnection` -- the
three-way handshake, FIN/RST, TIME_WAIT, ports, the listener callbacks -- but the
bytes an application queues are sent as ONE *carrier* segment instead of
MSS-sized segments, and the receiver answers it with one ACK. Whatever a segment
level run would spend on the wire is computed in closed form when the carrier
leaves:

* **segments**: ``k = ceil(B / mss)`` for ``B`` bytes on the connection's MSS. The
  carrier records ``k`` in its ``wscale`` field (meaningless on non-SYN segments),
  so links count and serialise ``k`` segments' worth of bytes and a balancer
  pays ``k`` per-segment CPU costs (see :func:`carried`).
* **slow start** (RFC 5681 3.1, initial window 10 per RFC 6928): the sender's
  window ``w`` (segments, capped by the peer's receive window) goes out in rounds.
  With ``s`` the time one full segment takes on the path's slowest link and
  ``rtt`` the connection's smallest RTT sample (the handshake's, then those of
  later flights), the first ACK of a round returns ``s + rtt`` after the round
  began, and every ACK then releases two segments -- more than the bottleneck can
  carry -- so the next round starts at ``max(w * s, s + rtt)``: the link idles
  ``max(0, s + rtt - w * s)`` between rounds, and ``w`` doubles. The carrier is
  held back by the sum of those idle gaps over every round but the last, after
  which the links serialise its ``k`` segments back to back: its last byte arrives
  when the segment-level flight's last byte would.
* **window growth**: the window grows by one MSS per segment acknowledged (slow
  start; no loss, so never congestion avoidance) as the carrier is sent; after an
  idle period longer than the RTO it falls back to the initial window (RFC 5681
  4.1), as the segment-level connection does.

Pure ACKs are counted, not simulated: the ACK of a ``k``-segment carrier records
``k`` in its ``wscale`` (``k - 1`` if the application's answer carries the last
one). Two more ACKs of a connection's life are counted rather than sent, where
nothing could tell them from what goes with them: the handshake's last ACK, when
the first data leaves at the same moment (the carrier is marked
:data:`~lbsim.net.segment.ACK_RIDES`), and the ACK of the close's last FIN (the
FIN is marked :data:`~lbsim.net.segment.FIN_ACK_COUNTED`; its receiver answers
nothing and its sender closes one smallest RTT sample later, on its timer).
See docs/validation.md ("Request-level network time") for the formulas and
docs/design.md for what this leaves out (loss recovery, queue limits, per-segment
traces).
"""

from __future__ import annotations

from typing import Any

from lbsim.net.link import SEGMENT_OVERHEAD
from lbsim.net.segment import (
    ACK,
    ACK_RIDES,
    ACKS_SHIFT,
    FIN,
    FIN_ACK_COUNTED,
    NO_ENDS,
    PSH,
    Segment,
    carried,
)
from lbsim.transport.delack import quick_acks
from lbsim.transport.message_receive import CarrierReceiver, relay_credit
from lbsim.transport.params import TcpListener, TcpParams
from lbsim.transport.seqnum import SEQ_MASK
from lbsim.transport.states import CLOSED, LAST_ACK, LISTEN, SENDABLE, TcpProtocolError
from lbsim.transport.tcp import INF

__all__ = ["MessageConnection", "carried", "slow_start_gaps"]

_ACK_PSH = ACK | PSH
_new_tuple = tuple.__new__
#: quick_acks(window, mss) by its arguments (a few distinct pairs per run).
_QUICK: dict[tuple[int, int], int] = {}


def slow_start_gaps(segments: int, window: int, seg_time: float, rtt: float) -> tuple[float, int]:
    """Idle time of a slow-start flight of ``segments``, and its number of rounds.

    Args:
        segments: Full segments to send (at least 1).
        window: Congestion window at the start, in segments (at least 1).
        seg_time: Seconds one full segment takes on the bottleneck link.
        rtt: Round-trip time without that segment's serialisation, seconds.

    Returns:
        ``(gaps, rounds)``: total seconds the bottleneck idles waiting for ACKs,
        summed over every round but the last, and the number of rounds.
    """
    gaps = 0.0
    rounds = 1
    left = segments
    w = max(1, window)
    round_time = seg_time + rtt
    while left > w:
        left -= w
        busy = w * seg_time
        if busy < round_time:
            gaps += round_time - busy
        else:
            break  # the pipe is full: the rest goes back to back
        w *= 2
        rounds += 1
    return gaps, rounds


class MessageConnection(CarrierReceiver):
    """A TCP connection that sends each burst of queued bytes as one carrier.

    Its receiving side is :class:`~lbsim.transport.message_receive.CarrierReceiver`.

    Attributes:
        path_rate: Bytes per second of the slowest link towards the peer (set by
            the stack; 0 means "unknown": serialisation ignored in the gaps).
        holds: ``(carrier, release time)`` for carriers held back by slow start,
            in the order they were appended to :attr:`out`.
        count_fin_ack: Whether the ACK of a FIN that closes the exchange may be
            counted instead of sent (set by the stack; see :meth:`_push`).
    """

    __slots__ = (
        "_busy_end",
        "_fin_acked_at",
        "_mcwnd",
        "_min_rtt",
        "_release",
        "count_fin_ack",
        "holds",
        "path_rate",
    )

    def __init__(
        self,
        local_ip: int,
        local_port: int,
        remote_ip: int,
        remote_port: int,
        *,
        mss: int,
        isn: int,
        listener: TcpListener,
        params: TcpParams | None = None,
        passive: bool = False,
        path_rate: float = 0.0,
        count_fin_ack: bool = False,
    ) -> None:
        """Create an endpoint (see :class:`~lbsim.transport.endpoint.Endpoint`).

        Args:
            local_ip: This end's address.
            local_port: This end's port.
            remote_ip: The peer's address.
            remote_port: The peer's port.
            mss: MSS this end can receive.
            isn: Initial sequence number (32-bit).
            listener: Receives application-level happenings.
            params: Shared tunables (defaults if omitted).
            passive: ``True`` for a listening endpoint waiting for a SYN.
            path_rate: Bytes per second of the slowest link towards the peer.
            count_fin_ack: Whether the ACK of the close's last FIN may be counted.
        """
        super().__init__(
            local_ip,
            local_port,
            remote_ip,
            remote_port,
            mss=mss,
            isn=isn,
            listener=listener,
            params=params,
            passive=passive,
        )
        self.path_rate = path_rate
        self.rx_carried = self.rx_own = 1
        self.holds: list[tuple[Segment, float]] = []
        self._mcwnd = 0  # congestion window in bytes; 0 until the MSS is known
        self._min_rtt = INF
        self._release = 0.0  # when the last carrier is released
        self._busy_end = 0.0  # when the last carrier's last segment is serialised
        self._peer_quick = -1  # quick ACKs the peer has left (-1: not started)
        self._ack_may_ride = False
        self._fin_acked_at = INF  # when the counted ACK of our closing FIN arrives
        self.count_fin_ack = count_fin_ack
        # Every carrier is acknowledged at once (and the ACK elided); delayed ACKs
        # are accounted in closed form by the sender (_acks_for), never by a timer.
        self._delack = 0.0

    # ---------------------------------------------------------------- timing

    def _sample_rtt(self, now: float) -> None:
        sample = now - self._timed_at
        if sample < self._min_rtt:
            self._min_rtt = sample
        # ConnectionLifecycle._sample_rtt, inlined (one call less per sample).
        self.rtt.sample(sample)
        self._timed_seq = 0

    def _seg_time(self) -> float:
        rate = self.path_rate
        return (self.mss + SEGMENT_OVERHEAD) / rate if rate > 0 else 0.0

    # --------------------------------------------------------------- sending

    def send(self, nbytes: int, message: Any = None, now: float = 0.0) -> None:
        """Queue ``nbytes`` of stream data; ``message`` (if any) ends with them.

        ``TcpConnection.send`` -> ``send_chunk`` -> restart after idle, written out
        as one: at request level this is every message's way in.

        Raises:
            TcpProtocolError: If the sending direction is already closed.
        """
        state = self.state
        if self._fin_queued or state is CLOSED or state is LISTEN:
            raise TcpProtocolError(f"cannot send in state {state.value}")
        if nbytes <= 0:
            raise ValueError("a send must carry at least one byte")
        end = self.snd_end = self.snd_end + nbytes
        self._cork = False
        if message is not None:
            marks = self._marks
            marks.offs.append(end)
            marks.msgs.append(message)
        if state in SENDABLE:
            if (
                self.snd_nxt == self.snd_una
                and self.params.slow_start_after_idle
                and now - self._last_send > self.rtt.rto
            ):
                # self.cc.restart_after_idle(self.mss), inlined.
                cc = self.cc
                iw = cc.initial_window * self.mss
                if cc.cwnd > iw:
                    cc.cwnd = iw
            self._push(now)

    def _push(self, now: float) -> None:
        """Send everything queued (and the FIN) as one carrier, held by slow start."""
        nxt = self.snd_nxt
        end = self.snd_end
        fin_due = self._fin_queued and not self._fin_sent
        if nxt >= end and not fin_due:
            return
        mss = self.mss
        idle = now - self._busy_end > self.rtt.rto
        if self._mcwnd == 0:
            self._mcwnd = self.cc.cwnd
        elif idle and nxt == self.snd_una and self.params.slow_start_after_idle:
            self._mcwnd = min(self._mcwnd, self.cc.initial_window * mss)
        out = self.out
        n = end - nxt
        if n <= 0:
            self._push_fin(now, end)
            return
        k = -(-n // mss)
        rate = self.path_rate
        seg_time = (mss + SEGMENT_OVERHEAD) / rate if rate > 0 else 0.0
        if k * mss <= self._mcwnd and k * mss <= self.snd_wnd:
            gaps = 0.0  # one round: nothing to wait for
        else:
            window = min(self._mcwnd, self.snd_wnd) // mss
            rtt = self._min_rtt - seg_time if self._min_rtt < INF else 0.0
            gaps, _ = slow_start_gaps(k, window, seg_time, max(0.0, rtt))
        spread = gaps
        credit = relay_credit[0]
        if credit:
            # Relayed as it arrived: the rounds of both connections overlap, so
            # only the part of this side's idle time beyond the inbound one is left.
            gaps = max(0.0, gaps - credit)
            spread = max(spread, credit)
        release = now + gaps
        if release < self._release:
            release = self._release  # never overtake a carrier still held back
        flags = _ACK_PSH | FIN if fin_due else _ACK_PSH
        acks = k
        if self.params.delayed_ack:
            # self._acks_for(k, idle), inlined but for a refill of unknown size.
            quick = self._peer_quick
            if quick < 0 or idle:
                quick = _QUICK.get((self.snd_wnd, mss), -1)
            if quick < 0:
                acks = self._acks_for(k, idle)
            else:
                spent = k if k < quick else quick
                self._peer_quick = quick - spent
                acks = spent + ((k - spent + 1) // 2 if self.passive else (k - spent) // 2)
        rides = 0
        if self._ack_may_ride and release <= now and out:
            last = out[-1]
            if last.flags == ACK and not last.length:
                # The handshake's last ACK would leave just ahead of this data, and
                # nothing can tell the two apart on the way: the carrier stands for
                # both (links, CPU and the peer count the ACK with it; the peer
                # completes its handshake on the carrier's ACK field).
                out.pop()
                rides = ACK_RIDES
            self._ack_may_ride = False
        # The carrier: k (and above it how many fewer ACKs than segments it draws,
        # see ACKS_SHIFT, and whether the handshake's ACK rides) in wscale, the
        # flight's slow-start idle time (whole microseconds) in mss: both fields
        # mean nothing on a non-SYN segment.
        saved = (k - acks) << ACKS_SHIFT if 0 <= acks < k else 0
        mss_field = round(spread * 1e6) if k > 1 else 0
        wscale = (k if k > 1 or saved else 0) | saved | rides
        marks = self._marks
        if nxt >= self._snd_max:
            # self._segment(...) for new data, inlined: the carrier takes every byte
            # queued, so every mark not yet sent ends in it.
            offs = marks.offs
            i = marks.next
            held = len(offs)
            if i == held:
                ends = NO_ENDS
            elif i == held - 1:
                ends = ((offs[i] - nxt, marks.msgs[i]),)
                marks.next = held
            else:
                ends = marks.collect(i, nxt, end, True)
            src, dst, sport, dport = self._hdr
            seg: Segment = _new_tuple(
                Segment,
                (src, dst, sport, dport, (self.isn + nxt) & SEQ_MASK,
                 (self.irs + self.rcv_nxt) & SEQ_MASK, flags, self._wnd_field, n, mss_field,
                 wscale, ends),
            )  # fmt: skip
            self.bytes_sent += n
        else:
            seg = self._segment(nxt, n, flags, mss_field, wscale)
            self.retransmissions += k
        out.append(seg)
        if release > now:
            self.holds.append((seg, release))
        self._release = release
        self._busy_end = release + k * seg_time
        nxt += n
        if fin_due:
            self._fin_sent = True
            nxt += 1
        if nxt > self._snd_max:
            self._snd_max = nxt
        self.snd_nxt = nxt
        self.segments_sent += k
        self._mcwnd += k * mss  # slow start: one MSS per segment acknowledged
        self._ack_pending = False
        self._last_send = now
        if fin_due:
            if not self._timed_seq:
                # Time the flight's first segment: its ACK leaves s + rtt after it.
                self._timed_seq, self._timed_at = nxt, self._busy_end - seg_time
            self._arm(now, self._busy_end)
        else:
            # No loss at request level: the data is as good as acknowledged, and
            # the receiver sends no ACK for it (its k ACKs are counted here).
            self.snd_una = nxt
            self.segments_received += acks
            offs = marks.offs
            held = len(offs)
            if marks.head < held and offs[marks.head] <= nxt:
                if offs[-1] <= nxt:
                    # MessageMarks.trim(nxt), inlined for its usual case here: every
                    # mark acknowledged, so none is kept (one call saved).
                    offs.clear()
                    marks.msgs.clear()
                    marks.head = marks.next = 0
                else:
                    marks.trim(nxt)

    def _push_fin(self, now: float, end: int) -> None:
        """Send the FIN alone (everything queued before it has left)."""
        self._ack_sent()  # the FIN carries any ACK owed, as at segment level
        self._fin_sent = True
        nxt = end + 1
        if nxt > self._snd_max:
            self._snd_max = nxt
        self.snd_nxt = nxt
        self.segments_sent += 1
        self._last_send = now
        if self.state is LAST_ACK and self.count_fin_ack and self._min_rtt < INF:
            # The close's last FIN: nothing but the peer's bare ACK can follow it,
            # so that ACK is counted, not sent, and taken one round trip (the
            # smallest sample) from now (see on_timer).
            wscale = FIN_ACK_COUNTED
            self._fin_acked_at = self._rto_deadline = now + self._min_rtt
            moved = True
        else:
            # self._arm(now, now), inlined.
            wscale = 0
            rto = now + self.rtt.rto
            moved = self._rto_deadline == INF or self._rto_deadline < rto
            if moved:
                self._rto_deadline = rto
        if moved:
            # self._set_deadline(), inlined.
            rto = self._rto_deadline
            tw = self._tw_deadline
            dack = self._dack_at
            if dack < tw:
                tw = dack
            self.deadline = rto if rto < tw else tw
        # self._pure_at(end, FIN | ACK), without NamedTuple._replace.
        src, dst, sport, dport = self._hdr
        fin: Segment = _new_tuple(
            Segment,
            (src, dst, sport, dport, (self.isn + end) & SEQ_MASK,
             (self.irs + self.rcv_nxt) & SEQ_MASK, FIN | ACK, self._wnd_field, 0, 0, wscale,
             NO_ENDS),
        )  # fmt: skip
        self.out.append(fin)

    def on_timer(self, now: float) -> None:
        """The counted ACK of our closing FIN arrives; any other timer as usual."""
        if self._fin_acked_at <= now and self.state is LAST_ACK:
            self._fin_acked_at = self._rto_deadline = INF
            self.segments_received += 1
            self.snd_una = self.snd_nxt
            # self._fin_acked(now), inlined: LAST-ACK --rcv ACK of FIN--> CLOSED.
            self.state = CLOSED
            self._finish(now, None)
            return
        super().on_timer(now)

    def _arm(self, now: float, busy_end: float) -> None:
        """Retransmission timer from when the flight is on the wire, not from now."""
        deadline = busy_end + self.rtt.rto
        if self._rto_deadline == INF or self._rto_deadline < deadline:
            self._rto_deadline = deadline
            self._set_deadline()

    def _acks_for(self, k: int, idle: bool) -> int:
        """Pure ACKs the peer would send for ``k`` segments, as its delayed ACKs decide.

        Without delayed ACKs, one per segment. With them (Linux's rules, see
        :mod:`lbsim.transport.delack`), the peer acknowledges segments one by one
        while its quick-ACK budget lasts -- ``quick_acks(window, MSS)`` when data
        starts and again after an idle longer than the RTO -- and every second
        segment after that; the odd last one's ACK goes by its timer after an
        answer, and rides on the answer after a request.
        """
        if not self.params.delayed_ack:
            return k
        if self._peer_quick < 0 or idle:
            key = (self.snd_wnd, self.mss)
            quick = _QUICK.get(key)
            if quick is None:
                quick = _QUICK[key] = quick_acks(*key)
            self._peer_quick = quick
        quick = self._peer_quick
        if k < quick:
            quick = k
        self._peer_quick -= quick
        if self.passive:  # an answer: the odd last segment's ACK waits for the timer
            return quick + (k - quick + 1) // 2
        # A request: the server's answer carries the odd last segment's ACK.
        return quick + (k - quick) // 2

    def _on_new_ack(self, seg: Segment, ack: int, una: int, now: float) -> None:
        super()._on_new_ack(seg, ack, una, now)
        if self._rto_deadline != INF and self._rto_deadline < self._busy_end + self.rtt.rto:
            self._rto_deadline = self._busy_end + self.rtt.rto
            self._set_deadline()

    def _retransmit_head(self, now: float) -> None:
        """Resend everything unacknowledged (a carrier has no segments to pick from)."""
        self.snd_nxt = self.snd_una
        if self._fin_sent and self.snd_una <= self.snd_end:
            self._fin_sent = False
        self._timed_seq = 0
        self._push(now)
