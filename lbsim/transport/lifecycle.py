"""Opening, closing and timing out a TCP connection: the slow path of the state machine.

Theory of operation: :class:`ConnectionLifecycle` is the base of
:class:`~lbsim.transport.tcp.TcpConnection`. It holds every field of a connection
and everything that happens a few times per connection rather than per segment:

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

Every state change goes through the transition table of :mod:`lbsim.transport.states`.
The per-segment work (ACK processing, reassembly, segmentation) lives in the
subclass, which provides the four hooks declared at the end of this class.
"""

from __future__ import annotations

from typing import Any

from lbsim.net.segment import ACK, FIN, NO_ENDS, RST, SYN, Segment
from lbsim.transport.congestion import NewReno
from lbsim.transport.delack import DelayedAck, quick_acks
from lbsim.transport.marks import MessageMarks
from lbsim.transport.params import DEFAULT_MSS, TcpListener, TcpParams, window_shift
from lbsim.transport.reassembly import OutOfOrder
from lbsim.transport.rto import RtoEstimator
from lbsim.transport.seqnum import SEQ_HALF, SEQ_MASK
from lbsim.transport.states import TRANSITIONS, TcpEvent, TcpState, next_state

INF = float("inf")

_CLOSED = TcpState.CLOSED
_ESTABLISHED = TcpState.ESTABLISHED
_HANDSHAKING = (TcpState.SYN_SENT, TcpState.SYN_RECEIVED)
#: Builds a Segment from a plain tuple, skipping NamedTuple's keyword wrapper
#: (the per-segment path makes millions of them).
_new_tuple = tuple.__new__


class ConnectionLifecycle(DelayedAck):
    """The fields of one TCP endpoint, its handshake, teardown and timer.

    See :class:`~lbsim.transport.tcp.TcpConnection` for the attributes.
    """

    __slots__ = (
        "_cork",
        "_fin_queued",
        "_fin_sent",
        "_hdr",
        "_last_send",
        "_local_mss",
        "_marks",
        "_msg_start",
        "_ooo",
        "_peer_shift",
        "_retries",
        "_rto_deadline",
        "_rx_boundary",
        "_shift",
        "_snd_max",
        "_timed_at",
        "_timed_seq",
        "_tw_deadline",
        "_wnd_field",
        "bytes_received",
        "bytes_sent",
        "cc",
        "closed_at",
        "deadline",
        "established_at",
        "finished_at",
        "irs",
        "isn",
        "listener",
        "local_ip",
        "local_port",
        "mss",
        "opened_at",
        "out",
        "params",
        "passive",
        "rcv_nxt",
        "remote_ip",
        "remote_port",
        "retransmissions",
        "rtt",
        "segments_received",
        "segments_sent",
        "snd_end",
        "snd_nxt",
        "snd_una",
        "snd_wnd",
        "state",
        "stream_data",
        "timer_at",
        "user",
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
    ) -> None:
        """Create an endpoint.

        Args:
            local_ip: This end's address.
            local_port: This end's port.
            remote_ip: The peer's address.
            remote_port: The peer's port.
            mss: MSS this end can receive (its interface MTU minus 40).
            isn: Initial sequence number (32-bit).
            listener: Receives application-level happenings.
            params: Shared tunables (defaults if omitted).
            passive: ``True`` for a listening endpoint waiting for a SYN.
        """
        p = params or TcpParams()
        self.params = p
        self.local_ip = local_ip
        self.local_port = local_port
        self.remote_ip = remote_ip
        self.remote_port = remote_port
        self.listener = listener
        self.passive = passive
        self.state = TcpState.LISTEN if passive else TcpState.CLOSED
        self.out: list[Segment] = []
        self.deadline = INF
        #: Owned by the driver (the stack): when its pending timer event fires.
        self.timer_at = INF
        self._hdr = (local_ip, remote_ip, local_port, remote_port)
        self._local_mss = mss
        self.mss = mss
        self.isn = isn & SEQ_MASK
        self.irs = 0
        self.snd_una = self.snd_nxt = self._snd_max = 0
        self.snd_end = 1
        self.snd_wnd = 0xFFFF
        self.rcv_nxt = 0
        self._shift = window_shift(p.receive_window)
        self._peer_shift = 0
        self._wnd_field = min(0xFFFF, p.receive_window >> self._shift)
        self.cc = NewReno(p.initial_window, mss, 2 if p.delayed_ack else 1)
        self.rtt = RtoEstimator(p.initial_rto, p.min_rto, p.max_rto)
        self._rto_deadline = self._tw_deadline = INF
        self._retries = 0
        self._timed_seq = 0
        self._timed_at = self._last_send = 0.0
        self._fin_queued = self._fin_sent = self._cork = False
        self._marks = MessageMarks()
        self._ooo = OutOfOrder()
        self._rx_boundary = 1
        self._msg_start = 0.0
        self._init_acks(p)
        self.stream_data = False
        self.user: Any = None
        self.segments_sent = self.segments_received = self.retransmissions = 0
        self.bytes_sent = self.bytes_received = 0
        self.opened_at: float | None = None
        self.established_at: float | None = None
        self.closed_at: float | None = None
        self.finished_at: float | None = None

    # ------------------------------------------------------------------- views

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.local_ip}:{self.local_port}->"
            f"{self.remote_ip}:{self.remote_port} {self.state.value})"
        )

    @property
    def key(self) -> tuple[int, int, int, int]:
        """``(local_ip, local_port, remote_ip, remote_port)``."""
        return (self.local_ip, self.local_port, self.remote_ip, self.remote_port)

    @property
    def segments(self) -> int:
        """Segments of this connection in both directions: sent plus received."""
        return self.segments_sent + self.segments_received

    @property
    def cwnd(self) -> int:
        """Congestion window in bytes."""
        return self.cc.cwnd

    @property
    def rto(self) -> float:
        """Current retransmission timeout, seconds."""
        return self.rtt.rto

    @property
    def in_flight(self) -> int:
        """Sequence numbers sent but not yet acknowledged."""
        return self.snd_nxt - self.snd_una

    @property
    def unsent(self) -> int:
        """Application bytes queued but not yet sent."""
        return max(0, self.snd_end - self.snd_nxt)

    # ------------------------------------------------------------------ helpers

    def take(self) -> list[Segment]:
        """Remove and return the segments waiting to be transmitted."""
        out = self.out
        self.out = []
        return out

    def _go(self, event: TcpEvent) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]  # no call but this one
        except KeyError:
            next_state(self.state, event)  # raises TcpProtocolError with a message

    def _set_deadline(self) -> None:
        rto = self._rto_deadline
        tw = self._tw_deadline
        dack = self._dack_at
        if dack < tw:
            tw = dack
        self.deadline = rto if rto < tw else tw

    def _syn(self, flags: int) -> Segment:
        ack = (self.irs + self.rcv_nxt) & SEQ_MASK if flags & ACK else 0
        window = self.params.receive_window
        syn: Segment = _new_tuple(
            Segment,
            (
                *self._hdr,
                self.isn,
                ack,
                flags,
                window if window < 0xFFFF else 0xFFFF,
                0,
                self._local_mss,
                self._shift,
                NO_ENDS,
            ),
        )
        return syn

    def _pure(self, flags: int) -> Segment:
        """A segment without payload at the next offset to send (a pure ACK, RST)."""
        src, dst, sport, dport = self._hdr
        seg: Segment = _new_tuple(
            Segment,
            (
                src,
                dst,
                sport,
                dport,
                (self.isn + self.snd_nxt) & SEQ_MASK,
                (self.irs + self.rcv_nxt) & SEQ_MASK,
                flags,
                self._wnd_field,
                0,
                0,
                0,
                NO_ENDS,
            ),
        )
        return seg

    def _pure_at(self, offset: int, flags: int) -> Segment:
        """A segment without payload at stream ``offset`` (a FIN)."""
        return self._pure(flags)._replace(seq=(self.isn + offset) & SEQ_MASK)

    def _emit_syn(self, now: float, flags: int) -> None:
        """Send (or resend) our SYN or SYN-ACK and start timing the handshake."""
        self.out.append(self._syn(flags))
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
        self._go(TcpEvent.ACTIVE_OPEN)
        self.opened_at = now
        self._emit_syn(now, SYN)

    def close(self, now: float) -> None:
        """Close the sending direction once queued data is out (FIN)."""
        state = self.state
        if state is TcpState.SYN_SENT:
            self._go(TcpEvent.CLOSE)
            self._finish(now, None)
            return
        if self._fin_queued or state in (TcpState.CLOSED, TcpState.TIME_WAIT):
            return
        self._go(TcpEvent.CLOSE)
        self._fin_queued = True
        self._cork = False
        if self.established_at is not None:
            self._push(now)

    def abort(self, now: float) -> None:
        """Reset the connection (send RST) and drop everything."""
        if self.state in (TcpState.CLOSED, TcpState.LISTEN):
            self.state = _CLOSED
            return
        if self.state is not TcpState.TIME_WAIT:
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
        if state is _CLOSED:
            return
        if flags & RST:
            if state is not TcpState.LISTEN:
                self._go(TcpEvent.RECV_RST)
                self._finish(now, "reset")
            return
        if state is TcpState.LISTEN:
            if flags & SYN and not flags & ACK:
                self._accept_syn(seg)
                self._go(TcpEvent.RECV_SYN)
                self.opened_at = now
                self._emit_syn(now, SYN | ACK)
            return
        if state is TcpState.SYN_SENT:
            if flags & SYN and flags & ACK and ((seg.ack - self.isn) & SEQ_MASK) == 1:
                self._accept_syn(seg)
                self._go(TcpEvent.RECV_SYN_ACK)
                self._syn_acked(now)
                self.snd_wnd = seg.window
                # The handshake's third segment goes out on its own, then any data.
                self.out.append(self._pure(ACK))
                self.segments_sent += 1
                self._last_send = now
                self._push(now)
                self.listener.on_established(self, now)  # type: ignore[arg-type]
            return
        if flags & SYN:
            # A retransmitted SYN or SYN-ACK: our answer was lost, repeat it.
            if state is TcpState.SYN_RECEIVED:
                self.out.append(self._syn(SYN | ACK))
                self.segments_sent += 1
                self.retransmissions += 1
            elif ((seg.seq - self.irs) & SEQ_MASK) == 0:
                self._ack_pending = True
            self._flush_ack()
            return
        if state is TcpState.SYN_RECEIVED:
            if not flags & ACK or ((seg.ack - self.isn) & SEQ_MASK) != 1:
                return
            self._syn_acked(now)
            self.snd_wnd = seg.window << self._peer_shift
            self._go(TcpEvent.RECV_ACK_OF_SYN)
            self.listener.on_established(self, now)  # type: ignore[arg-type]
            if self.state is not _ESTABLISHED:
                return
            self._push(now)
        elif flags & ACK:
            self._on_ack(seg, self._ack_offset(seg), now)
            if self.state is _CLOSED:
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
        if self._ack_pending and self.state is not _CLOSED:
            self.out.append(self._pure(ACK))
            self.segments_sent += 1
            self._ack_sent()

    def _accept_syn(self, seg: Segment) -> None:
        self.irs = seg.seq
        self.rcv_nxt = 1
        self.mss = min(self._local_mss, seg.mss or DEFAULT_MSS)
        self._peer_shift = seg.wscale
        self.cc.reset_window(self.mss)
        self._rcv_wup = 1
        if self._delack:
            self._quick = self._quick_max = quick_acks(self.params.receive_window, self.mss)

    def _fin_acked(self, now: float) -> None:
        self._go(TcpEvent.RECV_ACK_OF_FIN)
        if self.state is TcpState.TIME_WAIT:
            self._enter_time_wait(now)
        elif self.state is _CLOSED:
            self._finish(now, None)

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
            self._go(TcpEvent.TIMEOUT)
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
            self.out.append(self._syn(SYN if state is TcpState.SYN_SENT else SYN | ACK))
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
