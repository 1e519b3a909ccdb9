"""One TCP connection as a sans-IO state machine.

Theory of operation: a :class:`TcpConnection` never touches a clock, a socket or
SimPy. Callers feed it inputs -- :meth:`connect`, :meth:`send`, :meth:`close`,
:meth:`abort`, :meth:`receive` (a segment from the peer) and :meth:`on_timer` -- each
with the current time ``now``. It answers by appending segments to :attr:`out`
(the caller drains and transmits them, in order) and by calling methods of its
:class:`~lbsim.transport.params.TcpListener` (connection up, message complete, peer
closed, closed). Its single timer is exposed as :attr:`deadline`; the caller calls
:meth:`on_timer` once that time is reached (calling it early or late is harmless).

The connection is split along its mechanisms, each in its own module:

* ``states.py``: the RFC 9293 state machine as a transition table;
* ``endpoint.py``: the root class -- every field, the one constructor, segment builders;
* ``lifecycle.py``: the base class -- handshake, close, RST and the timer;
* ``params.py``: the tunables and the listener interface;
* ``seqnum.py``: 32-bit sequence numbers that wrap (serial-number arithmetic);
* ``rto.py``: the RFC 6298 RTT estimator and exponential backoff;
* ``congestion.py``: NewReno -- slow start from 10 segments (RFC 6928), congestion
  avoidance, restart after idle (RFC 5681 4.1), fast retransmit and recovery
  (RFC 6582);
* ``marks.py``: where application messages end in the sent stream;
* ``reassembly.py``: out-of-order segments held until the gap fills;

* ``delack.py``: delayed ACKs as Linux does them (two-segment rule, 40 ms timer,
  quick ACKs at the start and for out-of-order data);

and this module holds the data path that ties them together: segmentation,
cumulative ACKs (piggybacked on data whenever this end sends any) and message
delivery. The per-segment fast path
-- an ACK of new data outside recovery, in-order data with nothing held back,
building a data segment -- is written out inline here (no extra call per segment);
the extracted modules hold the rest and the reference versions of what is inlined.

Positions are unbounded offsets from the initial sequence numbers (the SYN is 0,
data starts at 1), converted to and from the 32-bit wire fields at the edge, so a
connection may carry any number of bytes: sequence numbers wrap modulo 2**32 as
RFC 9293 says.

Not modelled: Nagle, SACK, timestamps, urgent data, simultaneous open.
"""

from __future__ import annotations

from typing import Any

from lbsim.net.segment import ACK, FIN, NO_ENDS, PSH, RST, SYN, Segment
from lbsim.transport.congestion import FAST_RETRANSMIT, SEND_MORE
from lbsim.transport.lifecycle import INF, ConnectionLifecycle
from lbsim.transport.params import DEFAULT_MSS, TcpListener, TcpParams, window_shift
from lbsim.transport.seqnum import SEQ_HALF, SEQ_MASK
from lbsim.transport.states import (
    CLOSED,
    ESTABLISHED,
    LISTEN,
    SENDABLE,
    TIME_WAIT,
    TcpEvent,
    TcpProtocolError,
)

__all__ = [
    "DEFAULT_MSS",
    "INF",
    "TcpConnection",
    "TcpListener",
    "TcpParams",
    "TcpProtocolError",
    "window_shift",
]

_FAST_FLAGS_MASK = SYN | FIN | RST
_ACK_PSH = ACK | PSH
#: Builds a Segment from a plain tuple, skipping NamedTuple's keyword wrapper
#: (the per-segment path makes millions of them).
_new_tuple = tuple.__new__


class TcpConnection(ConnectionLifecycle):
    """One endpoint of a TCP connection.

    Attributes:
        local_ip, local_port, remote_ip, remote_port: The 4-tuple, local view.
        state: Current :class:`~lbsim.transport.states.TcpState`.
        out: Segments to transmit, in order; the caller drains it.
        deadline: When :meth:`on_timer` must next be called (``inf`` if never).
        timer_at: Free for the driver to note when it armed a timer (lazy timers).
        mss: Payload bytes per segment after negotiation.
        cc: Congestion control state (:class:`~lbsim.transport.congestion.NewReno`).
        rtt: RTT estimator and RTO (:class:`~lbsim.transport.rto.RtoEstimator`).
        stream_data: If true, the listener also gets :meth:`TcpListener.on_data`.
        user: Free slot for the application (e.g. which request is pending).
        passive: Whether this end was opened by a listener (an incoming SYN).
        isn, irs: Initial sequence numbers sent and received (32-bit).
        snd_una, snd_nxt, snd_end, rcv_nxt: Stream offsets (unbounded, 0 = the SYN):
            oldest unacknowledged, next to send, end of queued data, next expected.
        segments_sent, segments_received, retransmissions, bytes_sent, bytes_received:
            Counters (segments sent include the SYN, ACKs and retransmissions).
        opened_at, established_at, closed_at: Times (``None`` until they happen).
        finished_at: When the connection stopped carrying data: it entered
            TIME_WAIT or closed, whichever came first.
    """

    __slots__ = ()

    # ------------------------------------------------------------- application

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
        if self._fin_queued or self.state in (CLOSED, LISTEN):
            raise TcpProtocolError(f"cannot send in state {self.state.value}")
        if nbytes <= 0:
            raise ValueError("a send must carry at least one byte")
        start = self.snd_end
        self.snd_end = start + nbytes
        self._cork = more
        if ends:
            # MessageMarks.add, inlined (one call less per message).
            marks = self._marks
            for off, message in ends:
                marks.offs.append(start + off)
                marks.msgs.append(message)
        if self.state in SENDABLE:
            if (
                self.snd_nxt == self.snd_una
                and self.params.slow_start_after_idle
                and now - self._last_send > self.rtt.rto
            ):
                self.cc.restart_after_idle(self.mss)
            self._push(now)

    # --------------------------------------------------------------- receiving

    def receive(self, seg: Segment, now: float) -> None:
        """Process a segment from the peer."""
        self.segments_received += 1
        # Fields are read by index on this path (cheaper than by name): seg[4] seq,
        # seg[5] ack, seg[6] flags, seg[8] length, seg[11] ends.
        flags = seg[6]
        if self.state is ESTABLISHED and not flags & _FAST_FLAGS_MASK:
            if flags & ACK:
                una = self.snd_una
                # Bytes this ACK acknowledges beyond snd_una, modulo 2**32: new data
                # if 0 < d <= in flight; anything else (a duplicate, an old ACK) takes
                # the general path, which unwraps the field (seqnum.unwrap).
                d = (seg[5] - self.isn - una) & SEQ_MASK
                if d and d <= self.snd_nxt - una and not self.cc.in_recovery:
                    self._on_new_ack(seg, una + d, una, now)
                elif d or seg[8] == 0:
                    self._on_ack(seg, self._ack_offset(seg), now)
            n = seg[8]
            if n:
                start = self.rcv_nxt
                if not (seg[4] - self.irs - start) & SEQ_MASK and not self._ooo:
                    # In order with nothing held back: the common case, inlined.
                    self._ack_pending = True
                    if start == self._rx_boundary:
                        self._msg_start = now
                    self.rcv_nxt = start + n
                    self.bytes_received += n
                    ends = seg[11]
                    if self.stream_data:
                        self.listener.on_data(self, n, ends, bool(flags & PSH), now)
                    if ends:
                        self._deliver_ends(ends, start, now)
                else:
                    self._on_payload(seg, now)
            if self._ack_pending:
                if self._delack:
                    # May this ACK wait? (the rules: lbsim/transport/delack.py)
                    if now - self._rcv_at > self.rtt.rto:
                        self._quick = self._quick_max  # idle: quick ACKs again, in full
                    self._rcv_at = now
                    wait = self.rcv_nxt - self._rcv_wup <= self.mss
                    if wait and not self._quick and not self._ack_now:
                        if self._dack_at == INF:
                            self._dack_at = now + self._delack
                            self._set_deadline()
                        return  # the ACK waits for data to ride on, or for its timer
                # self._pure(ACK), inlined (the header unpacked into locals: building
                # the tuple from them is cheaper than splicing ``*self._hdr`` in).
                src, dst, sport, dport = self._hdr
                ack_seg: Segment = _new_tuple(
                    Segment,
                    (
                        src,
                        dst,
                        sport,
                        dport,
                        (self.isn + self.snd_nxt) & SEQ_MASK,
                        (self.irs + self.rcv_nxt) & SEQ_MASK,
                        ACK,
                        self._wnd_field,
                        0,
                        0,
                        0,
                        NO_ENDS,
                    ),
                )
                self.out.append(ack_seg)
                self.segments_sent += 1
                # DelayedAck._ack_sent, inlined.
                self._ack_pending = self._ack_now = False
                if self._quick:
                    self._quick -= 1
                self._rcv_wup = self.rcv_nxt
                if self._dack_at != INF:
                    self._dack_at = INF
                    self._set_deadline()
            return
        self._receive_slow(seg, now)

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
        # NewReno.on_ack, inlined (one call less per ACK).
        mss = self.mss
        cc = self.cc
        cwnd = cc.cwnd
        if cwnd < cc.ssthresh:
            limit = cc.limit
            cc.cwnd = cwnd + (acked if acked < limit else limit)
        else:
            cc.cwnd = cwnd + max(1, mss * mss // cwnd)
        cc.dupacks = 0
        marks = self._marks
        head = marks.head
        if head < len(marks.offs) and marks.offs[head] <= ack:
            marks.trim(ack)
        if self._fin_queued and ack == self.snd_end + 1:
            self._fin_sent = True
            self._fin_acked(now)
            if self.state is CLOSED:
                return
        dack = self._dack_at
        if ack == self._snd_max:
            self._rto_deadline = INF
            tw = self._tw_deadline
            self.deadline = tw if tw < dack else dack
        else:
            self._rto_deadline = rto = now + self.rtt.rto
            self.deadline = rto if rto < dack else dack
        if self.snd_nxt < self.snd_end or (self._fin_queued and not self._fin_sent):
            self._push(now)

    def _on_ack(self, seg: Segment, ack: int, now: float) -> None:
        """Any ACK (``ack`` is its field as a stream offset): new data, or a duplicate."""
        una = self.snd_una
        self.snd_wnd = seg.window << self._peer_shift
        cc = self.cc
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
            if not cc.in_recovery:
                cc.on_ack(acked, self.mss)
            elif cc.on_recovery_ack(ack, acked, self.mss):
                self._retransmit_head(now)  # partial ACK (RFC 6582): resend the next hole
            marks = self._marks
            if marks.head < len(marks.offs) and marks.offs[marks.head] <= ack:
                marks.trim(ack)
            if self._fin_queued and ack == self.snd_end + 1:
                # Covers a FIN sent before a go-back-N rewind cleared _fin_sent.
                self._fin_sent = True
                self._fin_acked(now)
                if self.state is CLOSED:
                    return
            self._rto_deadline = INF if ack == self._snd_max else now + self.rtt.rto
            self._set_deadline()
            if self.snd_nxt < self.snd_end or (self._fin_queued and not self._fin_sent):
                self._push(now)
        elif ack == una and not seg.length and self._snd_max > una:
            action = cc.on_duplicate_ack(self._snd_max - una, self._snd_max, self.mss)
            if action == FAST_RETRANSMIT:
                self._retransmit_head(now)
            elif action == SEND_MORE:
                self._push(now)

    # ---------------------------------------------------------------- payload

    def _on_payload(self, seg: Segment, now: float) -> None:
        # Set first: an application that answers from a callback piggybacks the ACK.
        self._ack_pending = True
        rcv = self.rcv_nxt
        rel = rcv + (((seg.seq - self.irs - rcv + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)
        if rel != rcv or self._ooo:
            self._ack_now = True  # out of order, a duplicate, or filling a hole
        if rel == rcv:
            self._accept(seg, 0, now)
        elif rel > rcv:
            self._ooo.hold(rel, seg)
            return
        elif rel + seg.seq_space > rcv:
            self._accept(seg, rcv - rel, now)
        else:
            return
        ooo = self._ooo
        while ooo and self.state is not CLOSED:
            ready = ooo.next_ready(self.rcv_nxt)
            if ready is None:
                break
            self._accept(ready[0], ready[1], now)

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
                if self.state is CLOSED:
                    return
        if seg.flags & FIN:
            self.rcv_nxt += 1
            self._ack_pending = True
            self._go(TcpEvent.RECV_FIN)
            if self.state is TIME_WAIT:
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
            if self.state is CLOSED:
                return

    # ---------------------------------------------------------------- sending

    def _segment(self, a: int, n: int, flags: int, mss: int = 0, wscale: int = 0) -> Segment:
        """A data segment for stream offsets ``[a, a + n)``, with its message marks.

        ``mss`` and ``wscale`` are 0 on a data segment; request level puts what a
        carrier stands for there (:mod:`lbsim.transport.message`).
        """
        marks = self._marks
        offs = marks.offs
        new = a >= self._snd_max
        # First mark not yet sent (no search needed), or search for a retransmission.
        i = marks.next if new else marks.first_after(a)
        b = a + n
        last = len(offs) - 1
        if i > last or offs[i] > b:
            ends = NO_ENDS
        elif new and i == last:
            # MessageMarks.collect, inlined for one new mark (a request-level carrier).
            ends = ((offs[i] - a, marks.msgs[i]),)
            marks.next = i + 1
        else:
            ends = marks.collect(i, a, b, new)
        src, dst, sport, dport = self._hdr
        seg: Segment = _new_tuple(
            Segment,
            (
                src,
                dst,
                sport,
                dport,
                (self.isn + a) & SEQ_MASK,
                (self.irs + self.rcv_nxt) & SEQ_MASK,
                flags,
                self._wnd_field,
                n,
                mss,
                wscale,
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
        cwnd = self.cc.cwnd
        wnd = cwnd if cwnd < self.snd_wnd else self.snd_wnd
        mss = self.mss
        out = self.out
        first_new = snd_max = self._snd_max
        sent = 0
        # For self._segment, inlined below (nothing it reads changes in the loop).
        marks = self._marks
        offs = marks.offs
        src, dst, sport, dport = self._hdr
        isn = self.isn
        ack_field = (self.irs + self.rcv_nxt) & SEQ_MASK
        wnd_field = self._wnd_field
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
            # self._segment(nxt, n, flags), inlined (one call less per data segment).
            b = nxt + n
            i = marks.next if nxt >= snd_max else marks.first_after(nxt)
            if i < len(offs) and offs[i] <= b:
                ends = marks.collect(i, nxt, b, nxt >= snd_max)
            else:
                ends = NO_ENDS
            seg: Segment = _new_tuple(
                Segment,
                (src, dst, sport, dport, (isn + nxt) & SEQ_MASK, ack_field, flags, wnd_field, n,
                 0, 0, ends),
            )  # fmt: skip
            out.append(seg)
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
        self._ack_sent()
        self._last_send = now
        if self._rto_deadline == INF:
            self._rto_deadline = now + self.rtt.rto
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
        self._ack_sent()
        self._rto_deadline = now + self.rtt.rto
        self._set_deadline()
