"""Opening, closing and timing out a TCP connection: the slow path of the state machine.

Theory of operation: :class:`ConnectionLifecycle` is the base of
:class:`~lbsim.transport.tcp.TcpConnection` (its fields and segment builders
are :class:`~lbsim.transport.endpoint.Endpoint`'s). It holds everything that happens
a few times per connection rather than per segment:

* the three-way handshake: an active open sends a SYN with the MSS and window-scale
  options; a listening end answers a SYN with SYN-ACK; the sending MSS becomes the
  smaller of both ends' (RFC 9293 3.7.1) and the peer's window is scaled by the shift
  it announced (RFC 7323). The handshake is timed like data (its RTT seeds the
  estimator); a lost SYN or SYN-ACK is resent on the retransmission timer and a
  duplicate one answered again;
* teardown: :meth:`close` queues a FIN after the data, a received FIN moves the state
  on, and the end that closes first waits in TIME_WAIT (``time_wait``) before the
  connection is forgotten; :meth:`abort` sends RST; a received RST closes at once;
* the single timer: whichever is earliest of the retransmission deadline, the
  delayed-ACK deadline (:mod:`lbsim.transport.delack`) and the end of TIME_WAIT is
  :attr:`deadline`. A delayed ACK that falls due is sent. A retransmission timeout backs the RTO off
  (:mod:`lbsim.transport.rto`), collapses the window (:mod:`lbsim.transport.congestion`)
  and goes back to the first unacknowledged byte; after ``syn_retries`` or
  ``data_retries`` expiries in a row the connection gives up (error ``"timeout"``).

Every state change follows the transition table of :mod:`lbsim.transport.states`:
through it (``_go``), or, where the branch has just tested the state, by assigning
the state the table gives (the comment next to each names the transition).
The per-segment work (ACK processing, reassembly, segmentation) lives in the
subclass, which provides the four hooks declared at the end of this class.
"""

from __future__ import annotations

from lbsim.net.segment import ACK, FIN, NO_ENDS, RST, SYN, Segment
from lbsim.transport.delack import quick_acks
from lbsim.transport.endpoint import INF, Endpoint, _new_tuple
from lbsim.transport.params import DEFAULT_MSS
from lbsim.transport.seqnum import SEQ_HALF, SEQ_MASK
from lbsim.transport.states import (
    CLOSE_WAIT,
    CLOSED,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    LISTEN,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
    TcpEvent,
)

__all__ = ["INF", "ConnectionLifecycle"]

_HANDSHAKING = (SYN_SENT, SYN_RECEIVED)


class ConnectionLifecycle(Endpoint):
    """A TCP endpoint's handshake, teardown and timer.

    See :class:`~lbsim.transport.tcp.TcpConnection` for the attributes.
    """

    __slots__ = ()

    def _emit_syn(self, now: float, flags: int) -> None:
        """Send our SYN or SYN-ACK and start timing the handshake."""
        # self._syn(flags), inlined (one call less per connection opened).
        window = self.params.receive_window
        syn: Segment = _new_tuple(
            Segment,
            (
                *self._hdr,
                self.isn,
                (self.irs + self.rcv_nxt) & SEQ_MASK if flags & ACK else 0,
                flags,
                window if window < 0xFFFF else 0xFFFF,
                0,
                self._local_mss,
                self._shift,
                NO_ENDS,
            ),
        )
        self.out.append(syn)
        self.segments_sent += 1
        self.snd_nxt = self._snd_max = 1
        self._timed_seq, self._timed_at = 1, now
        self._rto_deadline = rto = now + self.rtt.rto
        # self._set_deadline(), inlined (one call less per connection).
        tw = self._tw_deadline
        dack = self._dack_at
        if dack < tw:
            tw = dack
        self.deadline = rto if rto < tw else tw

    # ---------------------------------------------------------- open and close

    def connect(self, now: float) -> None:
        """Start an active open: send a SYN."""
        if self.state is not CLOSED:
            self._go(TcpEvent.ACTIVE_OPEN)  # not allowed: raises
        self.state = SYN_SENT  # CLOSED --connect-->
        self.opened_at = now
        self._emit_syn(now, SYN)

    def close(self, now: float) -> None:
        """Close the sending direction once queued data is out (FIN)."""
        state = self.state
        if state is SYN_SENT:
            self._go(TcpEvent.CLOSE)
            self._finish(now, None)
            return
        if self._fin_queued or state is CLOSED or state is TIME_WAIT:
            return
        # The transition table's CLOSE, written out for the two usual states.
        if state is ESTABLISHED:
            self.state = FIN_WAIT_1
        elif state is CLOSE_WAIT:
            self.state = LAST_ACK
        else:
            self._go(TcpEvent.CLOSE)
        self._fin_queued = True
        self._cork = False
        if self.established_at is not None:
            self._push(now)

    def abort(self, now: float) -> None:
        """Reset the connection (send RST) and drop everything."""
        if self.state in (CLOSED, LISTEN):
            self.state = CLOSED
            return
        if self.state is not TIME_WAIT:
            self.out.append(self._pure(RST | ACK))
            self.segments_sent += 1
        self._go(TcpEvent.ABORT)
        self._finish(now, "aborted")

    def _finish(self, now: float, error: str | None) -> None:
        self.closed_at = now
        if self.finished_at is None:
            self.finished_at = now
        self._rto_deadline = self._tw_deadline = self._dack_at = INF
        self.deadline = INF
        # The listener takes a TcpConnection, which self is (a cast() would be a call).
        self.listener.on_closed(self, now, error)  # type: ignore[arg-type]

    # ------------------------------------ the slow receive path: SYN, RST, FIN

    def _ack_offset(self, seg: Segment) -> int:
        """The segment's ACK field as a stream offset (unwrapped near ``snd_una``)."""
        una = self.snd_una
        return una + (((seg.ack - self.isn - una + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)

    def _receive_slow(self, seg: Segment, now: float) -> None:
        flags = seg.flags
        state = self.state
        if state is CLOSED:
            return
        if flags & RST:
            if state is not LISTEN:
                self._go(TcpEvent.RECV_RST)
                self._finish(now, "reset")
            return
        if state is LISTEN:
            if flags & SYN and not flags & ACK:
                self._accept_syn(seg)
                self.state = SYN_RECEIVED  # LISTEN --rcv SYN-->
                self.opened_at = now
                self._emit_syn(now, SYN | ACK)
            return
        if state is SYN_SENT:
            if flags & SYN and flags & ACK and ((seg.ack - self.isn) & SEQ_MASK) == 1:
                self._accept_syn(seg)
                self.state = ESTABLISHED  # SYN-SENT --rcv SYN,ACK-->
                self._syn_acked(now)
                self.snd_wnd = seg.window
                # The handshake's third segment goes out on its own, then any data.
                self.out.append(self._pure(ACK))
                self.segments_sent += 1
                self._last_send = now
                if self.snd_nxt < self.snd_end or self._fin_queued:
                    self._push(now)
                self.listener.on_established(self, now)  # type: ignore[arg-type]
            return
        if flags & SYN:
            # A retransmitted SYN or SYN-ACK: our answer was lost, repeat it.
            if state is SYN_RECEIVED:
                self.out.append(self._syn(SYN | ACK))
                self.segments_sent += 1
                self.retransmissions += 1
            elif ((seg.seq - self.irs) & SEQ_MASK) == 0:
                self._ack_pending = True
            self._flush_ack()
            return
        if state is SYN_RECEIVED:
            if not flags & ACK or ((seg.ack - self.isn) & SEQ_MASK) != 1:
                return
            self._syn_acked(now)
            self.snd_wnd = seg.window << self._peer_shift
            self.state = ESTABLISHED  # SYN-RECEIVED --rcv ACK of SYN-->
            self.listener.on_established(self, now)  # type: ignore[arg-type]
            if self.state is not ESTABLISHED:
                return
            if self.snd_nxt < self.snd_end or self._fin_queued:
                self._push(now)
        elif flags & ACK:
            self._on_ack(seg, self._ack_offset(seg), now)
            if self.state is CLOSED:
                return
        if seg.length or flags & FIN:
            self._on_payload(seg, now)
        self._flush_ack()

    def _syn_acked(self, now: float) -> None:
        """Our SYN was acknowledged: the handshake is complete on this end."""
        self.snd_una = 1
        if self._timed_seq:
            self._sample_rtt(now)
        self._rto_deadline = INF
        self._retries = 0
        # self._set_deadline() without the cancelled retransmission deadline, inlined.
        tw = self._tw_deadline
        dack = self._dack_at
        self.deadline = dack if dack < tw else tw
        self.established_at = now

    def _flush_ack(self) -> None:
        if self._ack_pending and self.state is not CLOSED:
            self.out.append(self._pure(ACK))
            self.segments_sent += 1
            self._ack_sent()

    def _accept_syn(self, seg: Segment) -> None:
        self.irs = seg.seq
        self.rcv_nxt = 1
        self.mss = min(self._local_mss, seg.mss or DEFAULT_MSS)
        self._peer_shift = seg.wscale
        # self.cc.reset_window(self.mss), inlined (one call less per connection).
        cc = self.cc
        cc.cwnd = cc.initial_window * self.mss
        cc.limit = cc.abc * self.mss
        self._rcv_wup = 1
        if self._delack:
            self._quick = self._quick_max = quick_acks(self.params.receive_window, self.mss)

    def _fin_acked(self, now: float) -> None:
        # The transition table's RECV_ACK_OF_FIN, written out.
        state = self.state
        if state is FIN_WAIT_1:
            self.state = FIN_WAIT_2
        elif state is LAST_ACK:
            self.state = CLOSED
            self._finish(now, None)
        else:
            self._go(TcpEvent.RECV_ACK_OF_FIN)  # CLOSING -> TIME-WAIT, or raises
            if self.state is TIME_WAIT:
                self._enter_time_wait(now)

    def _enter_time_wait(self, now: float) -> None:
        self.finished_at = now
        self._rto_deadline = INF
        self._tw_deadline = now + self.params.time_wait
        self._set_deadline()

    def _sample_rtt(self, now: float) -> None:
        """The timed flight was acknowledged: one RTT sample (Karn's rule held)."""
        self.rtt.sample(now - self._timed_at)
        self._timed_seq = 0

    # ----------------------------------------------------------------- timers

    def on_timer(self, now: float) -> None:
        """Handle whichever timer is due at ``now`` (no-op if none is)."""
        if self._tw_deadline <= now:
            self._tw_deadline = INF
            self.state = CLOSED  # TIME-WAIT --timeout--> (only TIME-WAIT has this deadline)
            self._finish(now, None)
            return
        if self._dack_at <= now:
            self._dack_at = INF  # the delayed ACK is due: send it
            self._flush_ack()
        if self._rto_deadline > now:
            self._set_deadline()
            return
        p = self.params
        self._retries += 1
        state = self.state
        limit = p.syn_retries if state in _HANDSHAKING else p.data_retries
        if self._retries > limit:
            self._go(TcpEvent.TIMEOUT)
            self._finish(now, "timeout")
            return
        self.rtt.backoff()
        self._timed_seq = 0
        if state in _HANDSHAKING:
            self.out.append(self._syn(SYN if state is SYN_SENT else SYN | ACK))
            self.retransmissions += 1
            self.segments_sent += 1
        else:
            # Go back to the first unacknowledged byte with a one-segment window.
            self.cc.on_timeout(self._snd_max - self.snd_una, self.mss)
            self.snd_nxt = self.snd_una
            if self._fin_sent and self.snd_una <= self.snd_end:
                self._fin_sent = False
            self._rto_deadline = INF
            self._push(now)
        self._rto_deadline = now + self.rtt.rto
        self._set_deadline()

    # ------------------------------------------- per-segment work (the subclass)

    def _push(self, now: float) -> None:
        """Send as much queued data (and the FIN) as the windows allow."""
        raise NotImplementedError

    def _on_ack(self, seg: Segment, ack: int, now: float) -> None:
        """Process the ACK of ``seg``; ``ack`` is its field as a stream offset."""
        raise NotImplementedError

    def _on_payload(self, seg: Segment, now: float) -> None:
        """Take the payload (and FIN) of ``seg`` into the receive stream."""
        raise NotImplementedError
