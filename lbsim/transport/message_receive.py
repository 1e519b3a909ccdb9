"""How a request-level connection takes in a segment: fused paths for the usual cases.

Theory of operation: :class:`CarrierReceiver` is the receiving half of
:class:`~lbsim.transport.message.MessageConnection` (its base class; the
connection's constructor sets the fields declared here). At request level a
connection receives few segments -- SYN, SYN-ACK, a carrier per message, two FINs
-- and each would pass through TCP's layers one by one: the segment-level fast path
or the slow path of the state machine (``TcpConnection.receive``,
``_receive_slow``), then the payload (``_on_payload``, ``_accept``,
``_deliver_ends``), then the ACK (``_flush_ack``, ``_pure``, ``_ack_sent``), which
request level then takes back out because the sender has already counted it. Four
to twelve calls for what is, per case, a handful of assignments.

So :meth:`CarrierReceiver.receive` recognises the usual cases on arrival and runs
each as one block, with the same effects in the same order as the general path
(the same fields, counters, state changes, listener callbacks and segments out):

* **data in order**: a carrier on an established connection that acknowledges
  nothing new (its sender's earlier data was counted acknowledged when it left),
  or the first data of a connection, which completes the passive end's handshake
  (``SYN-RECEIVED``; its ACK field acknowledges the SYN-ACK). The bytes go to the
  listener (a single message's end straight to ``on_message``), and the ACK TCP
  would send is counted instead of built, unless what the application left in
  :attr:`out` must go ahead of it;
* **the peer's FIN** on an established connection (``-> CLOSE-WAIT``), acknowledged
  on the wire as before (or by the FIN of the listener's own close);
* **a SYN or SYN-ACK** goes straight to the state machine's handshake;
* **the FIN that ends a close** this end started (``FIN-WAIT-1``: it acknowledges
  our FIN, ``-> TIME-WAIT``), whose ACK is counted, not sent, when its sender marked
  it :data:`~lbsim.net.segment.FIN_ACK_COUNTED`.

Anything else -- RSTs, out-of-order or duplicate data, an ACK of new data, a FIN
with data, data outside ESTABLISHED, reassembly in progress -- takes the general path: TCP's own
receive, with the carrier's accounting around it (how many segments it stands for,
the ACKs it draws, which are counted, not sent). The fused blocks are checked
against the general path on the same inputs by ``tests/transport/test_message_receive.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lbsim.net.segment import (
    ACK,
    ACK_RIDES,
    ACKS_SHIFT,
    CARRIED_MASK,
    FIN,
    FIN_ACK_COUNTED,
    NO_ENDS,
    PSH,
    RST,
    SYN,
    Segment,
)
from lbsim.transport.seqnum import SEQ_MASK
from lbsim.transport.states import (
    CLOSE_WAIT,
    CLOSED,
    ESTABLISHED,
    FIN_WAIT_1,
    SENDABLE,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
)
from lbsim.transport.tcp import INF, TcpConnection

#: Slow-start idle time the carrier being received has already spent on its way,
#: while its receiver passes its bytes straight on (a splicing proxy): set and
#: cleared around the listener's callbacks in :meth:`CarrierReceiver.receive`, read
#: by the onward connection's ``_push``.
relay_credit = [0.0]

_CONTROL = SYN | FIN | RST | ACK
_FIN_ACK = FIN | ACK
_SLOW_FLAGS = SYN | FIN | RST


class CarrierReceiver(TcpConnection):
    """The receiving side of a request-level connection.

    Attributes:
        rx_carried: Segments the last segment received accounts for, its elided
            ACKs included (the stack charges CPU for that many).
        rx_own: Of those, the ones its sender put on the wire (the rest are the
            ACKs this end would send for it, later).
    """

    __slots__ = ("_ack_may_ride", "_peer_quick", "rx_carried", "rx_own")

    if TYPE_CHECKING:  # set by MessageConnection's constructor
        _ack_may_ride: bool
        _peer_quick: int
        rx_carried: int
        rx_own: int

    def receive(self, seg: Segment, now: float) -> None:
        """Process a segment: data is not acknowledged on the wire unless it ends with FIN.

        The usual cases run as one block each (see the module docstring); the
        general path follows them.
        """
        # Fields by index: seg[4] seq, seg[5] ack, seg[6] flags, seg[7] window,
        # seg[8] length, seg[9] mss, seg[10] wscale, seg[11] ends.
        flags = seg[6]
        n = seg[8]
        w = seg[10]
        state = self.state
        out = self.out
        before = len(out)
        if (
            flags & _CONTROL == ACK
            and n
            and not (seg[4] - self.irs - self.rcv_nxt) & SEQ_MASK
            and not self._ooo
            and (
                not (seg[5] - self.isn - self.snd_una) & SEQ_MASK  # acknowledges nothing new
                if state is ESTABLISHED
                else state is SYN_RECEIVED and (seg[5] - self.isn) & SEQ_MASK == 1
            )
        ):
            # ---- data in order (on an established connection, or completing one)
            if w <= 1:  # one segment (carried(), represented(), sent_with() inline)
                k = 1
                rides = 0
                self.rx_carried = 2
                self.rx_own = 1
            else:
                k = (w & CARRIED_MASK) or 1
                rides = 1 if w & ACK_RIDES else 0
                self.rx_own = k + rides
                self.rx_carried = 2 * k + rides - (w >> ACKS_SHIFT)
            # Counters move when the general path moves them: a listener may read them.
            self.segments_received += 1
            relay_credit[0] = seg[9] * 1e-6 if k > 1 else 0.0
            try:
                if state is SYN_RECEIVED:
                    # _receive_slow's SYN-RECEIVED branch: the handshake completes.
                    self._syn_acked(now)
                    self.snd_wnd = seg[7] << self._peer_shift
                    self.state = ESTABLISHED  # SYN-RECEIVED --rcv ACK of SYN-->
                    self.listener.on_established(self, now)
                    if self.state is ESTABLISHED and (
                        self.snd_nxt < self.snd_end or self._fin_queued
                    ):
                        self._push(now)
                if self.state is ESTABLISHED or state is ESTABLISHED:
                    # In order with nothing held back (TcpConnection.receive's fast path,
                    # _on_payload and _accept alike).
                    self._ack_pending = True
                    start = self.rcv_nxt
                    if start == self._rx_boundary:
                        self._msg_start = now
                    self.rcv_nxt = start + n
                    self.bytes_received += n
                    ends = seg[11]
                    if self.stream_data:
                        self.listener.on_data(self, n, ends, bool(flags & PSH), now)
                    if len(ends) == 1:
                        # self._deliver_ends(ends, start, now) for one message, inline.
                        end = start + ends[0][0]
                        first = self._msg_start
                        self._rx_boundary = end
                        if end < self.rcv_nxt:
                            self._msg_start = now  # the next message starts in this segment
                        self.listener.on_message(self, ends[0][1], first, now)
                    elif ends:
                        self._deliver_ends(ends, start, now)
                    if self._ack_pending and (state is ESTABLISHED or self.state is not CLOSED):
                        # The ACK TCP sends now (at once: a request-level connection
                        # never delays one, its sender accounts for delayed ACKs). Its
                        # sender counted the data acknowledged when it left, so it is
                        # elided (counted here, never built) -- unless the application
                        # left segments unsent: then it goes after them, as the general
                        # path has it.
                        self.segments_sent += 1
                        self._ack_pending = self._ack_now = False
                        if self._quick:
                            self._quick -= 1
                        self._rcv_wup = self.rcv_nxt
                        if self._dack_at != INF:
                            self._dack_at = INF
                            self._set_deadline()
                        if len(out) > before:
                            out.append(self._pure(ACK))
            finally:
                relay_credit[0] = 0.0
            if self.state in SENDABLE:
                # The peer's window: at segment level its pure ACKs would bring it.
                self.snd_wnd = seg[7] << self._peer_shift
            if self._peer_quick > 0:
                self._peer_quick -= 1  # the peer's data carried its ACK: a quick ACK spent
            self.segments_received += k - 1 + rides
            # The ACKs it draws, sent or counted (the one TCP sends is counted above).
            self.segments_sent += self.rx_carried - k - rides - 1
            if len(out) > before:
                first_out = out[before]
                if first_out.length == 0 and first_out.flags == ACK:
                    del out[before]  # elided: the sender counted it acknowledged
            return
        if (
            flags == _FIN_ACK
            and not n
            and not (seg[4] - self.irs - self.rcv_nxt) & SEQ_MASK
            and not self._ooo
        ):
            acked = (seg[5] - self.isn - self.snd_una) & SEQ_MASK
            if state is ESTABLISHED and not acked and not w and self._snd_max == self.snd_una:
                # ---- the peer closes (_receive_slow -> _on_ack, which finds nothing
                # new, -> _on_payload -> _accept -> _flush_ack).
                self.rx_carried = self.rx_own = 1
                self.segments_received += 1
                self.snd_wnd = seg[7] << self._peer_shift
                self._ack_pending = True
                self.rcv_nxt += 1
                self.state = CLOSE_WAIT  # ESTABLISHED --rcv FIN-->
                self.listener.on_peer_fin(self, now)
                if self._ack_pending:
                    self._flush_ack()  # unless the listener's own FIN took it along
                return
            if (
                state is FIN_WAIT_1
                and acked == 1
                and (w == FIN_ACK_COUNTED or not w)
                and self._fin_queued
                and self.snd_una + 1 == self._snd_max == self.snd_end + 1
                and not self.cc.in_recovery
            ):
                # ---- the FIN that ends our close: it acknowledges our FIN
                # (_receive_slow -> _on_ack -> _fin_acked, then _on_payload -> _accept
                # -> _enter_time_wait -> _flush_ack).
                self.rx_own = 1
                self.rx_carried = 2 if w else 1
                self.segments_received += 1
                self.snd_wnd = seg[7] << self._peer_shift
                ack = self.snd_una = self._snd_max
                if ack > self.snd_nxt:
                    self.snd_nxt = ack
                self._retries = 0
                if self._timed_seq and ack >= self._timed_seq:
                    self._sample_rtt(now)
                # NewReno.on_ack(1, mss), inlined (as in TcpConnection._on_new_ack).
                cc = self.cc
                cwnd = cc.cwnd
                if cwnd < cc.ssthresh:
                    cc.cwnd = cwnd + (1 if cc.limit > 1 else cc.limit)
                else:
                    cc.cwnd = cwnd + max(1, self.mss * self.mss // cwnd)
                cc.dupacks = 0
                marks = self._marks
                if marks.head < len(marks.offs) and marks.offs[marks.head] <= ack:
                    marks.trim(ack)
                self._fin_sent = True
                self.state = TIME_WAIT  # FIN-WAIT-1 --ACK of FIN--> FIN-WAIT-2 --rcv FIN-->
                self.rcv_nxt += 1
                self._ack_pending = True
                # _enter_time_wait, inline (the retransmission deadline is gone).
                self.finished_at = now
                self._rto_deadline = INF
                tw = self._tw_deadline = now + self.params.time_wait
                dack = self._dack_at
                self.deadline = tw if tw < dack else dack
                self.listener.on_peer_fin(self, now)
                if w and self._ack_pending and self.state is not CLOSED and len(out) == before:
                    # Its ACK is counted by the peer, not sent: _ack_sent's bookkeeping.
                    self.segments_sent += 1
                    self._ack_sent()
                    return
                self._flush_ack()
                if w and len(out) > before and out[-1].flags == ACK and not out[-1].length:
                    out.pop()
                return
        if flags & SYN and not n:
            # ---- the handshake (a SYN, a SYN-ACK): the general path's accounting for
            # a bare segment, and straight to the state machine's slow path.
            self.rx_carried = self.rx_own = 1
            self.segments_received += 1
            if state is SYN_SENT:
                # Data the application queues as the handshake completes may take
                # the handshake's last ACK along (see MessageConnection._push).
                self._ack_may_ride = True
                try:
                    self._receive_slow(seg, now)
                finally:
                    self._ack_may_ride = False
            else:
                self._receive_slow(seg, now)
            return
        self._receive_general(seg, now, before)

    def _receive_general(self, seg: Segment, now: float, before: int) -> None:
        """Any segment: TCP's receive, with the carrier's accounting around it."""
        flags = seg[6]
        n = seg[8]
        w = seg[10]
        state = self.state
        if w <= 1 or flags & SYN:  # not a carrier: represented() and sent_with() inline
            k = 1
            rides = 0
            self.rx_carried = 2 if n and not flags & FIN else 1
            self.rx_own = 1
        else:  # a carrier: carried(), represented() and sent_with() inline
            k = (w & CARRIED_MASK) or 1
            rides = 1 if w & ACK_RIDES else 0
            self.rx_own = k + rides
            if n and not flags & FIN:
                self.rx_carried = 2 * k + rides - (w >> ACKS_SHIFT)
            else:
                self.rx_carried = k + rides + (1 if w & FIN_ACK_COUNTED else 0)
        out = self.out
        if n:
            relay_credit[0] = seg[9] * 1e-6 if k > 1 else 0.0
        elif state is SYN_SENT:
            # Data the application queues as the handshake completes may take the
            # handshake's last ACK along (see MessageConnection._push).
            self._ack_may_ride = True
        try:
            if state is ESTABLISHED and not flags & _SLOW_FLAGS:
                TcpConnection.receive(self, seg, now)
            else:
                # TcpConnection.receive's slow branch, without the call.
                self.segments_received += 1
                self._receive_slow(seg, now)
        finally:
            relay_credit[0] = 0.0
            self._ack_may_ride = False
        if not n:
            # The peer's closing FIN: our ACK of it is counted by the peer.
            if (
                w & FIN_ACK_COUNTED
                and not flags & SYN
                and len(out) > before
                and out[-1].flags == ACK
                and not out[-1].length
            ):
                out.pop()
            return
        if flags & ACK and self.state in SENDABLE:
            # The peer's window: at segment level its pure ACKs would bring it.
            self.snd_wnd = seg[7] << self._peer_shift
        acks = k if flags & FIN else self.rx_carried - k - rides
        if self._peer_quick > 0:
            self._peer_quick -= 1  # the peer's data carried its ACK: a quick ACK spent
        self.segments_received += k - 1 + rides
        self.segments_sent += acks - 1  # the ACKs it draws, sent or counted
        if len(out) <= before:
            return
        first = out[before]
        pure = first.length == 0 and first.flags == ACK
        if not flags & FIN:
            if pure:
                del out[before]  # elided: the sender counted it acknowledged
            return
        if pure:
            if k > 1:
                out[before] = first._replace(wscale=k)
        elif k > 1:
            # The answer took the last ACK along; the other k - 1 were pure.
            out.insert(before, first._replace(flags=ACK, length=0, ends=NO_ENDS, wscale=k - 1))
