"""One TCP connection as a sans-IO state machine.

Theory of operation: a :class:`TcpConnection` never touches a clock, a socket or
SimPy. Callers feed it inputs -- :meth:`connect`, :meth:`send`, :meth:`close`,
:meth:`abort`, :meth:`receive` (a segment from the peer) and :meth:`on_timer` -- each
with the current time ``now``. It answers by appending segments to :attr:`out`
(the caller drains and transmits them, in order) and by calling methods of its
:class:`TcpListener` (connection up, message complete, peer closed, closed). Its
single timer is exposed as :attr:`deadline`; the caller calls :meth:`on_timer` once
that time is reached (calling it early or late is harmless).

What is modelled, with the RFCs it follows:

* three-way handshake with the MSS and window-scale options; the sending MSS is the
  smaller of both ends' (RFC 9293 3.7.1, RFC 7323 window scaling);
* a byte stream in which application messages are marks at byte offsets: a segment
  lists the messages whose last byte it carries, and the receiver reports a message
  once every byte up to that mark has arrived in order (reassembly, out-of-order
  segments held until the gap fills);
* cumulative ACKs, one per data segment received (no delayed ACKs), piggybacked when
  the application answers at once;
* slow start from an initial window of 10 segments (RFC 6928), congestion avoidance,
  restart after idle (RFC 5681 4.1), fast retransmit and NewReno-style recovery
  (RFC 6582), retransmission timeout with the RFC 6298 estimator, Karn's rule and
  exponential backoff;
* FIN close in both directions with TIME_WAIT, and RST.

Not modelled: Nagle, delayed ACKs, SACK, timestamps, urgent data, simultaneous open.
Sequence numbers wrap at 2**32 on the wire; a stream may carry at most 2 GiB per
direction, far beyond any simulated workload.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Protocol

from lbsim.net.segment import ACK, FIN, NO_ENDS, PSH, RST, SEQ_MASK, SYN, Segment
from lbsim.transport.states import (
    SENDABLE,
    TRANSITIONS,
    TcpEvent,
    TcpProtocolError,
    TcpState,
    next_state,
)

INF = float("inf")
#: Largest stream a connection carries per direction (sequence-space safety).
MAX_STREAM = 1 << 31
#: MSS assumed when a SYN carries no MSS option (RFC 9293).
DEFAULT_MSS = 536

_CLOSED = TcpState.CLOSED
_ESTABLISHED = TcpState.ESTABLISHED
_FAST_FLAGS_MASK = SYN | FIN | RST
_ACK_PSH = ACK | PSH
#: Builds a Segment from a plain tuple, skipping NamedTuple's keyword wrapper
#: (the per-segment path makes millions of them).
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class TcpParams:
    """Tunables shared by the connections of a run.

    Attributes:
        initial_window: Initial congestion window in segments (RFC 6928: 10).
        receive_window: Receive buffer advertised, in bytes.
        initial_rto: RTO before any RTT sample (RFC 6298: 1 s).
        min_rto: Lower bound of the RTO (Linux: 200 ms).
        max_rto: Upper bound of the RTO after backoff.
        time_wait: Time spent in TIME_WAIT (Linux: 60 s).
        syn_retries: SYN retransmissions before a connect fails (Linux: 6).
        data_retries: Retransmissions of one segment before giving up (Linux: 15).
        slow_start_after_idle: Reset cwnd after an idle RTO (Linux default on).
    """

    initial_window: int = 10
    receive_window: int = 4 * 1024 * 1024
    initial_rto: float = 1.0
    min_rto: float = 0.2
    max_rto: float = 60.0
    time_wait: float = 60.0
    syn_retries: int = 6
    data_retries: int = 15
    slow_start_after_idle: bool = True


class TcpListener(Protocol):
    """What a connection tells the application above it."""

    def on_established(self, conn: TcpConnection, now: float) -> None:
        """The handshake completed."""

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        """Every byte of ``message`` arrived in order; its first byte came at ``first_byte``."""

    def on_data(
        self,
        conn: TcpConnection,
        nbytes: int,
        ends: tuple[tuple[int, Any], ...],
        push: bool,
        now: float,
    ) -> None:
        """``nbytes`` more bytes arrived in order (only when ``conn.stream_data``).

        ``ends`` marks the messages that end inside these bytes (offsets 1-based
        from the first of them); ``push`` is the PSH flag of the segment that
        carried them (the sender had nothing more queued).
        """

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """The peer closed its sending direction."""

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        """The connection is gone.

        ``error`` is ``None`` after an orderly close, ``"reset"`` when the peer
        sent RST, ``"aborted"`` when this end reset it, ``"timeout"`` when
        retransmissions gave up.
        """


def window_shift(receive_window: int) -> int:
    """Smallest window-scale shift that lets ``receive_window`` fit 16 bits (max 14)."""
    shift = 0
    while (receive_window >> shift) > 0xFFFF and shift < 14:
        shift += 1
    return shift


class TcpConnection:
    """One endpoint of a TCP connection.

    Attributes:
        local_ip, local_port, remote_ip, remote_port: The 4-tuple, local view.
        state: Current :class:`TcpState`.
        out: Segments to transmit, in order; the caller drains it.
        deadline: When :meth:`on_timer` must next be called (``inf`` if never).
        timer_at: Free for the driver to note when it armed a timer (lazy timers).
        mss: Payload bytes per segment after negotiation.
        cwnd: Congestion window in bytes.
        stream_data: If true, the listener also gets :meth:`TcpListener.on_data`.
        user: Free slot for the application (e.g. which request is pending).
        passive: Whether this end was opened by a listener (an incoming SYN).
        segments_sent, segments_received, retransmissions, bytes_sent, bytes_received:
            Counters (segments sent include the SYN, ACKs and retransmissions).
        opened_at, established_at, closed_at: Times (``None`` until they happen).
        finished_at: When the connection stopped carrying data: it entered
            TIME_WAIT or closed, whichever came first.
    """

    __slots__ = (
        "_ack_pending",
        "_cork",
        "_end_msgs",
        "_end_offs",
        "_ends_head",
        "_ends_next",
        "_fin_queued",
        "_fin_sent",
        "_hdr",
        "_in_recovery",
        "_last_send",
        "_local_mss",
        "_msg_start",
        "_ooo",
        "_peer_shift",
        "_recover",
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
        "closed_at",
        "cwnd",
        "deadline",
        "dupacks",
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
        "rto",
        "rttvar",
        "segments_received",
        "segments_sent",
        "snd_end",
        "snd_nxt",
        "snd_una",
        "snd_wnd",
        "srtt",
        "ssthresh",
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
            local_ip, local_port, remote_ip, remote_port: The 4-tuple.
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
        # Offsets are relative to the ISNs: the SYN is 0, data starts at 1.
        self.snd_una = 0
        self.snd_nxt = 0
        self._snd_max = 0
        self.snd_end = 1
        self.snd_wnd = 0xFFFF
        self.rcv_nxt = 0
        self._shift = window_shift(p.receive_window)
        self._peer_shift = 0
        self._wnd_field = min(0xFFFF, p.receive_window >> self._shift)
        self.cwnd = p.initial_window * mss
        self.ssthresh = INF
        self.dupacks = 0
        self._in_recovery = False
        self._recover = 0
        self.srtt = 0.0
        self.rttvar = 0.0
        self.rto = p.initial_rto
        self._rto_deadline = INF
        self._tw_deadline = INF
        self._retries = 0
        self._timed_seq = 0
        self._timed_at = 0.0
        self._last_send = 0.0
        self._fin_queued = False
        self._fin_sent = False
        self._cork = False
        self._end_offs: list[int] = []
        self._end_msgs: list[Any] = []
        self._ends_head = 0
        self._ends_next = 0
        self._ooo: dict[int, Segment] = {}
        self._rx_boundary = 1
        self._msg_start = 0.0
        self._ack_pending = False
        self.stream_data = False
        self.user: Any = None
        self.segments_sent = 0
        self.segments_received = 0
        self.retransmissions = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.opened_at: float | None = None
        self.established_at: float | None = None
        self.closed_at: float | None = None
        self.finished_at: float | None = None

    # ------------------------------------------------------------------ helpers

    def __repr__(self) -> str:
        return (
            f"TcpConnection({self.local_ip}:{self.local_port}->"
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
    def in_flight(self) -> int:
        """Sequence numbers sent but not yet acknowledged."""
        return self.snd_nxt - self.snd_una

    @property
    def unsent(self) -> int:
        """Application bytes queued but not yet sent."""
        return max(0, self.snd_end - self.snd_nxt)

    def take(self) -> list[Segment]:
        """Return and clear the pending output segments."""
        out = self.out
        self.out = []
        return out

    def _go(self, event: TcpEvent) -> None:
        state = TRANSITIONS.get((self.state, event))
        if state is None:
            next_state(self.state, event)  # raises TcpProtocolError with a message
        else:
            self.state = state

    def _set_deadline(self) -> None:
        rto = self._rto_deadline
        tw = self._tw_deadline
        self.deadline = rto if rto < tw else tw

    def _ack_field(self) -> int:
        return (self.irs + self.rcv_nxt) & SEQ_MASK

    def _syn(self, now: float, flags: int) -> Segment:
        ack = self._ack_field() if flags & ACK else 0
        return Segment(
            self.local_ip,
            self.remote_ip,
            self.local_port,
            self.remote_port,
            self.isn,
            ack,
            flags,
            min(0xFFFF, self.params.receive_window),
            0,
            self._local_mss,
            self._shift,
        )

    def _pure(self, flags: int) -> Segment:
        seg: Segment = _new_tuple(
            Segment,
            (
                *self._hdr,
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

    # ------------------------------------------------------------- application

    def connect(self, now: float) -> None:
        """Start an active open: send a SYN."""
        self._go(TcpEvent.ACTIVE_OPEN)
        self.opened_at = now
        self.out.append(self._syn(now, SYN))
        self.segments_sent += 1
        self.snd_nxt = self._snd_max = 1
        self._timed_seq, self._timed_at = 1, now
        self._rto_deadline = now + self.rto
        self._set_deadline()

    def send(self, nbytes: int, message: Any = None, now: float = 0.0) -> None:
        """Queue ``nbytes`` of stream data; ``message`` (if any) ends with them.

        Data queued before the handshake completes goes out as soon as it does.

        Args:
            nbytes: Bytes to append to the stream (> 0).
            message: Application message whose last byte is the last of these bytes.
            now: Current time.

        Raises:
            TcpProtocolError: If the sending direction is already closed.
        """
        self.send_chunk(nbytes, NO_ENDS if message is None else ((nbytes, message),), now)

    def send_chunk(
        self,
        nbytes: int,
        ends: tuple[tuple[int, Any], ...],
        now: float,
        *,
        more: bool = False,
    ) -> None:
        """Queue a chunk of a byte stream relayed from elsewhere (a splicing proxy).

        Args:
            nbytes: Bytes to append (> 0).
            ends: ``(offset, message)`` marks inside the chunk, offsets 1-based from
                its start, as :attr:`Segment.ends` and :meth:`TcpListener.on_data`
                give them.
            now: Current time.
            more: The sender knows more bytes follow (like ``MSG_MORE``): a final
                partial segment is held back until the next chunk fills it or a
                chunk arrives with ``more=False``. Full segments always go.

        Raises:
            TcpProtocolError: If the sending direction is already closed.
        """
        if self._fin_queued or self.state in (TcpState.CLOSED, TcpState.LISTEN):
            raise TcpProtocolError(f"cannot send in state {self.state.value}")
        if nbytes <= 0:
            raise ValueError("a send must carry at least one byte")
        start = self.snd_end
        end = start + nbytes
        if end > MAX_STREAM:
            raise TcpProtocolError("stream exceeds the 2 GiB per-direction limit")
        self.snd_end = end
        self._cork = more
        for off, message in ends:
            self._end_offs.append(start + off)
            self._end_msgs.append(message)
        if self.state in SENDABLE:
            if (
                self.snd_nxt == self.snd_una
                and self.params.slow_start_after_idle
                and now - self._last_send > self.rto
            ):
                iw = self.params.initial_window * self.mss
                if self.cwnd > iw:
                    self.cwnd = iw
            self._push(now)

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
        self._rto_deadline = self._tw_deadline = INF
        self.deadline = INF
        self.listener.on_closed(self, now, error)

    # --------------------------------------------------------------- receiving

    def receive(self, seg: Segment, now: float) -> None:
        """Process a segment from the peer."""
        self.segments_received += 1
        flags = seg.flags
        if self.state is _ESTABLISHED and not flags & _FAST_FLAGS_MASK:
            if flags & ACK:
                ack = (seg.ack - self.isn) & SEQ_MASK
                una = self.snd_una
                if ack > una and ack <= self.snd_nxt and not self._in_recovery:
                    self._on_new_ack(seg, ack, una, now)
                elif ack != una or seg.length == 0:
                    self._on_ack(seg, now)
            n = seg.length
            if n:
                start = self.rcv_nxt
                if (seg.seq - self.irs) & SEQ_MASK == start and not self._ooo:
                    # In order with nothing held back: the common case, inlined.
                    self._ack_pending = True
                    if start == self._rx_boundary:
                        self._msg_start = now
                    self.rcv_nxt = start + n
                    self.bytes_received += n
                    if self.stream_data:
                        self.listener.on_data(self, n, seg.ends, bool(flags & PSH), now)
                    if seg.ends:
                        self._deliver_ends(seg.ends, start, now)
                else:
                    self._on_payload(seg, now)
            if self._ack_pending:
                self._ack_pending = False
                self.out.append(self._pure(ACK))
                self.segments_sent += 1
            return
        self._receive_slow(seg, now)

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
                self.out.append(self._syn(now, SYN | ACK))
                self.segments_sent += 1
                self.snd_nxt = self._snd_max = 1
                self._timed_seq, self._timed_at = 1, now
                self._rto_deadline = now + self.rto
                self._set_deadline()
            return
        if state is TcpState.SYN_SENT:
            if flags & SYN and flags & ACK and ((seg.ack - self.isn) & SEQ_MASK) == 1:
                self._accept_syn(seg)
                self._go(TcpEvent.RECV_SYN_ACK)
                self.snd_una = 1
                if self._timed_seq:
                    self._sample_rtt(now)
                self._rto_deadline = INF
                self._retries = 0
                self._set_deadline()
                self.established_at = now
                self.snd_wnd = seg.window
                # The handshake's third segment goes out on its own, then any data.
                self.out.append(self._pure(ACK))
                self.segments_sent += 1
                self._last_send = now
                self._push(now)
                self.listener.on_established(self, now)
            return
        if flags & SYN:
            # A retransmitted SYN or SYN-ACK: our answer was lost, repeat it.
            if state is TcpState.SYN_RECEIVED:
                self.out.append(self._syn(now, SYN | ACK))
                self.segments_sent += 1
                self.retransmissions += 1
            elif ((seg.seq - self.irs) & SEQ_MASK) == 0:
                self._ack_pending = True
            self._flush_ack()
            return
        if state is TcpState.SYN_RECEIVED:
            if not flags & ACK or ((seg.ack - self.isn) & SEQ_MASK) != 1:
                return
            self.snd_una = 1
            if self._timed_seq:
                self._sample_rtt(now)
            self._rto_deadline = INF
            self._retries = 0
            self._set_deadline()
            self.snd_wnd = seg.window << self._peer_shift
            self._go(TcpEvent.RECV_ACK_OF_SYN)
            self.established_at = now
            self.listener.on_established(self, now)
            if self.state is not _ESTABLISHED:
                return
            self._push(now)
        elif flags & ACK:
            self._on_ack(seg, now)
            if self.state is _CLOSED:
                return
        if seg.length or flags & FIN:
            self._on_payload(seg, now)
        self._flush_ack()

    def _flush_ack(self) -> None:
        if self._ack_pending and self.state is not _CLOSED:
            self._ack_pending = False
            self.out.append(self._pure(ACK))
            self.segments_sent += 1

    def _accept_syn(self, seg: Segment) -> None:
        self.irs = seg.seq
        self.rcv_nxt = 1
        peer_mss = seg.mss or DEFAULT_MSS
        self.mss = min(self._local_mss, peer_mss)
        self._peer_shift = seg.wscale
        self.cwnd = self.params.initial_window * self.mss

    # ------------------------------------------------------------------- ACKs

    def _on_new_ack(self, seg: Segment, ack: int, una: int, now: float) -> None:
        """The common case of :meth:`_on_ack`: new data acknowledged, no recovery."""
        self.snd_wnd = seg.window << self._peer_shift
        acked = ack - una
        self.snd_una = ack
        self._retries = 0
        timed = self._timed_seq
        if timed and ack >= timed:
            self._sample_rtt(now)
        mss = self.mss
        cwnd = self.cwnd
        if cwnd < self.ssthresh:
            self.cwnd = cwnd + (acked if acked < mss else mss)
        else:
            self.cwnd = cwnd + max(1, mss * mss // cwnd)
        self.dupacks = 0
        offs = self._end_offs
        head = self._ends_head
        if head < len(offs) and offs[head] <= ack:
            self._trim_ends(ack)
        if self._fin_queued and ack == self.snd_end + 1:
            self._fin_sent = True
            self._fin_acked(now)
            if self.state is _CLOSED:
                return
        if ack == self._snd_max:
            self._rto_deadline = INF
            self.deadline = self._tw_deadline
        else:
            self.deadline = self._rto_deadline = now + self.rto
        if self.snd_nxt < self.snd_end or (self._fin_queued and not self._fin_sent):
            self._push(now)

    def _trim_ends(self, ack: int) -> None:
        """Forget message marks the peer has acknowledged."""
        offs = self._end_offs
        head = bisect_right(offs, ack, self._ends_head)
        if head > 256 and head * 2 > len(offs):
            del offs[:head]
            del self._end_msgs[:head]
            self._ends_next -= head
            head = 0
        self._ends_head = head
        if self._ends_next < head:
            self._ends_next = head

    def _on_ack(self, seg: Segment, now: float) -> None:
        ack = (seg.ack - self.isn) & SEQ_MASK
        una = self.snd_una
        self.snd_wnd = seg.window << self._peer_shift
        if ack > una:
            if ack > self._snd_max:
                return  # acknowledges something never sent
            acked = ack - una
            self.snd_una = ack
            if ack > self.snd_nxt:
                self.snd_nxt = ack
            self._retries = 0
            if self._timed_seq and ack >= self._timed_seq:
                self._sample_rtt(now)
            mss = self.mss
            if self._in_recovery:
                if ack >= self._recover:
                    self._in_recovery = False
                    self.cwnd = self.ssthresh  # type: ignore[assignment]
                else:
                    # Partial ACK (RFC 6582): resend the next hole, deflate.
                    self._retransmit_head(now)
                    self.cwnd = max(mss, self.cwnd - acked + mss)
            elif self.cwnd < self.ssthresh:
                self.cwnd += acked if acked < mss else mss
            else:
                self.cwnd += max(1, mss * mss // self.cwnd)
            self.dupacks = 0
            offs = self._end_offs
            if self._ends_head < len(offs) and offs[self._ends_head] <= ack:
                self._trim_ends(ack)
            if self._fin_queued and ack == self.snd_end + 1:
                # Covers a FIN sent before a go-back-N rewind cleared _fin_sent.
                self._fin_sent = True
                self._fin_acked(now)
                if self.state is _CLOSED:
                    return
            self._rto_deadline = INF if ack == self._snd_max else now + self.rto
            self._set_deadline()
            if self.snd_nxt < self.snd_end or (self._fin_queued and not self._fin_sent):
                self._push(now)
        elif ack == una and not seg.length and self._snd_max > una:
            self.dupacks += 1
            if self.dupacks == 3 and not self._in_recovery:
                flight = self._snd_max - una
                self.ssthresh = max(flight // 2, 2 * self.mss)
                self._in_recovery = True
                self._recover = self._snd_max
                self._retransmit_head(now)
                self.cwnd = int(self.ssthresh) + 3 * self.mss
            elif self.dupacks > 3 and self._in_recovery:
                self.cwnd += self.mss
                self._push(now)

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
        r = now - self._timed_at
        self._timed_seq = 0
        if self.srtt == 0.0:
            self.srtt = r
            self.rttvar = r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        p = self.params
        rto = self.srtt + 4 * self.rttvar
        self.rto = p.min_rto if rto < p.min_rto else (p.max_rto if rto > p.max_rto else rto)

    # ---------------------------------------------------------------- payload

    def _on_payload(self, seg: Segment, now: float) -> None:
        # Set first: an application that answers from a callback piggybacks the ACK.
        self._ack_pending = True
        rel = (seg.seq - self.irs) & SEQ_MASK
        rcv = self.rcv_nxt
        if rel == rcv:
            self._accept(seg, 0, now)
            if self._ooo:
                self._drain_ooo(now)
        elif rel > rcv:
            held = self._ooo.get(rel)
            if held is None or held.length < seg.length:
                self._ooo[rel] = seg
        elif rel + seg.seq_space > rcv:
            self._accept(seg, rcv - rel, now)
            if self._ooo:
                self._drain_ooo(now)

    def _drain_ooo(self, now: float) -> None:
        ooo = self._ooo
        progressed = True
        while ooo and progressed and self.state is not _CLOSED:
            progressed = False
            rcv = self.rcv_nxt
            seg = ooo.pop(rcv, None)
            if seg is not None:
                self._accept(seg, 0, now)
                progressed = True
                continue
            for rel in sorted(ooo):
                held = ooo[rel]
                if rel + held.seq_space <= rcv:
                    del ooo[rel]
                elif rel < rcv:
                    del ooo[rel]
                    self._accept(held, rcv - rel, now)
                    progressed = True
                    break

    def _accept(self, seg: Segment, skip: int, now: float) -> None:
        """Take in-order bytes of ``seg``, skipping ``skip`` already-received ones."""
        n = seg.length - skip
        if n > 0:
            start = self.rcv_nxt
            if start == self._rx_boundary:
                self._msg_start = now
            self.rcv_nxt = start + n
            self.bytes_received += n
            if self.stream_data:
                ends = seg.ends
                if skip and ends:
                    ends = tuple((off - skip, m) for off, m in ends if off > skip)
                self.listener.on_data(self, n, ends, bool(seg.flags & PSH), now)
            if seg.ends:
                self._deliver_ends(seg.ends, start - skip, now, skip)
                if self.state is _CLOSED:
                    return
        if seg.flags & FIN:
            self.rcv_nxt += 1
            self._ack_pending = True
            self._go(TcpEvent.RECV_FIN)
            if self.state is TcpState.TIME_WAIT:
                self._enter_time_wait(now)
            self.listener.on_peer_fin(self, now)

    def _deliver_ends(
        self, ends: tuple[tuple[int, Any], ...], base: int, now: float, skip: int = 0
    ) -> None:
        """Report the messages whose last byte, at ``base + offset``, just arrived."""
        listener = self.listener
        for off, message in ends:
            if off <= skip:
                continue
            end = base + off
            first = self._msg_start
            self._rx_boundary = end
            if end < self.rcv_nxt:
                self._msg_start = now  # the next message starts in this segment
            listener.on_message(self, message, first, now)
            if self.state is _CLOSED:
                return

    # ---------------------------------------------------------------- sending

    def _segment(self, a: int, n: int, flags: int) -> Segment:
        """A data segment for stream offsets ``[a, a + n)``, with its message marks."""
        offs = self._end_offs
        ends: tuple[tuple[int, Any], ...] = NO_ENDS
        if a >= self._snd_max:
            i = self._ends_next  # first mark not yet sent: no search needed
        else:
            i = bisect_right(offs, a, self._ends_head)
        b = a + n
        if i < len(offs) and offs[i] <= b:
            msgs = self._end_msgs
            found = []
            while i < len(offs) and offs[i] <= b:
                found.append((offs[i] - a, msgs[i]))
                i += 1
            ends = tuple(found)
            if a >= self._snd_max:
                self._ends_next = i
        seg: Segment = _new_tuple(
            Segment,
            (
                *self._hdr,
                (self.isn + a) & SEQ_MASK,
                (self.irs + self.rcv_nxt) & SEQ_MASK,
                flags,
                self._wnd_field,
                n,
                0,
                0,
                ends,
            ),
        )
        return seg

    def _push(self, now: float) -> None:
        """Send as much queued data (and the FIN) as the windows allow."""
        nxt = self.snd_nxt
        end = self.snd_end
        fin_due = self._fin_queued and not self._fin_sent
        if nxt >= end and not fin_due:
            return
        una = self.snd_una
        wnd = self.cwnd if self.cwnd < self.snd_wnd else self.snd_wnd
        mss = self.mss
        out = self.out
        first_new = snd_max = self._snd_max
        sent = 0
        while nxt < end:
            n = end - nxt
            if n > mss:
                n = mss
            room = una + wnd - nxt
            if n > room:
                if nxt > una or room <= 0:
                    break
                n = room
            elif n < mss and self._cork:
                break  # the application said more is coming: wait to fill the segment
            if nxt + n == end:
                flags = _ACK_PSH | FIN if fin_due else _ACK_PSH
            else:
                flags = ACK
            out.append(self._segment(nxt, n, flags))
            if nxt < snd_max:
                self.retransmissions += 1
            else:
                self.bytes_sent += n
            nxt += n
            sent += 1
            if flags & FIN:
                self._fin_sent = True
                nxt += 1
            if nxt > snd_max:
                snd_max = self._snd_max = nxt
        if fin_due and not self._fin_sent and nxt >= end:
            out.append(self._pure_at(end, FIN | ACK))
            self._fin_sent = True
            nxt = end + 1
            sent += 1
            if nxt > snd_max:
                self._snd_max = nxt
        if not sent:
            return
        if not self._timed_seq and self.snd_nxt >= first_new and nxt > first_new:
            # Time this flight (Karn's rule: only data sent for the first time).
            self._timed_seq, self._timed_at = nxt, now
        self.snd_nxt = nxt
        self.segments_sent += sent
        self._ack_pending = False
        self._last_send = now
        if self._rto_deadline == INF:
            self._rto_deadline = now + self.rto
            self._set_deadline()

    def _retransmit_head(self, now: float) -> None:
        """Resend the first unacknowledged segment (fast retransmit / partial ACK)."""
        una = self.snd_una
        self._timed_seq = 0
        self.retransmissions += 1
        self.segments_sent += 1
        if una >= self.snd_end:
            self.out.append(self._pure_at(una, FIN | ACK))
        else:
            n = min(self.mss, self.snd_end - una)
            flags = ACK | PSH if una + n == self.snd_end else ACK
            if flags & PSH and self._fin_sent:
                flags |= FIN
            self.out.append(self._segment(una, n, flags))
        self._ack_pending = False
        self._rto_deadline = now + self.rto
        self._set_deadline()

    def _pure_at(self, offset: int, flags: int) -> Segment:
        seg = self._pure(flags)
        return seg._replace(seq=(self.isn + offset) & SEQ_MASK)

    # ----------------------------------------------------------------- timers

    def on_timer(self, now: float) -> None:
        """Handle whichever timer is due at ``now`` (no-op if none is)."""
        if self._tw_deadline <= now:
            self._tw_deadline = INF
            self._go(TcpEvent.TIMEOUT)
            self._finish(now, None)
            return
        if self._rto_deadline > now:
            self._set_deadline()
            return
        p = self.params
        self._retries += 1
        state = self.state
        limit = (
            p.syn_retries
            if state in (TcpState.SYN_SENT, TcpState.SYN_RECEIVED)
            else (p.data_retries)
        )
        if self._retries > limit:
            self._go(TcpEvent.TIMEOUT)
            self._finish(now, "timeout")
            return
        self.rto = min(self.rto * 2, p.max_rto)
        self._timed_seq = 0
        if state is TcpState.SYN_SENT or state is TcpState.SYN_RECEIVED:
            self.out.append(self._syn(now, SYN if state is TcpState.SYN_SENT else SYN | ACK))
            self.retransmissions += 1
            self.segments_sent += 1
        else:
            # Go back to the first unacknowledged byte with a one-segment window.
            flight = self._snd_max - self.snd_una
            self.ssthresh = max(flight // 2, 2 * self.mss)
            self.cwnd = self.mss
            self._in_recovery = False
            self.dupacks = 0
            self.snd_nxt = self.snd_una
            if self._fin_sent and self.snd_una <= self.snd_end:
                self._fin_sent = False
            self._rto_deadline = INF
            self._push(now)
        self._rto_deadline = now + self.rto
        self._set_deadline()
