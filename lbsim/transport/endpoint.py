"""The fields of one TCP endpoint and the segments it builds from them.

Theory of operation: :class:`Endpoint` is the root of a connection's class chain
(``Endpoint`` -> :class:`~lbsim.transport.lifecycle.ConnectionLifecycle` ->
:class:`~lbsim.transport.tcp.TcpConnection` -> at request level
:class:`~lbsim.transport.message.MessageConnection`). It declares every field of a
connection (``__slots__``: millions of attribute reads per run go through slots) and
sets them in its one constructor -- the other classes add methods, not an
``__init__`` of their own, so opening a connection runs one constructor plus those
of its helper objects (congestion state, RTT estimator, message marks). It also
holds what every part reads: the read-only views (4-tuple, counters, window), the
state change through the transition table of :mod:`lbsim.transport.states`, the
single deadline, and the builders of a SYN and of a segment without payload.

Sequence numbers on the wire are the 32-bit fields; the connection works with
unbounded stream offsets from its initial sequence numbers
(:mod:`lbsim.transport.seqnum`), and the builders convert at the edge.
"""

from __future__ import annotations

from typing import Any

from lbsim.net.segment import ACK, NO_ENDS, Segment
from lbsim.transport.congestion import NewReno
from lbsim.transport.delack import DelayedAck
from lbsim.transport.marks import MessageMarks
from lbsim.transport.params import TcpListener, TcpParams, window_shift
from lbsim.transport.reassembly import OutOfOrder
from lbsim.transport.rto import RtoEstimator
from lbsim.transport.seqnum import SEQ_MASK
from lbsim.transport.states import TRANSITIONS, TcpEvent, TcpState, next_state

INF = float("inf")

#: (window shift, window field) by receive buffer size: a few per run.
_WINDOWS: dict[int, tuple[int, int]] = {}
#: Builds a Segment from a plain tuple, skipping NamedTuple's keyword wrapper
#: (the per-segment path makes millions of them).
_new_tuple = tuple.__new__


class Endpoint(DelayedAck):
    """The fields of one TCP endpoint, its views and its segment builders.

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
        window = _WINDOWS.get(p.receive_window)
        if window is None:
            shift = window_shift(p.receive_window)
            window = _WINDOWS[p.receive_window] = (shift, min(0xFFFF, p.receive_window >> shift))
        self._shift, self._wnd_field = window
        self._peer_shift = 0
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
        # The delayed-ACK state (lbsim/transport/delack.py): no ACK owed yet; the
        # timer's length, 0 when delayed ACKs are off.
        self._ack_pending = self._ack_now = False
        self._delack = p.delayed_ack_timeout if p.delayed_ack else 0.0
        self._dack_at = INF
        self._quick = self._quick_max = self._rcv_wup = 0
        self._rcv_at = 0.0
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
