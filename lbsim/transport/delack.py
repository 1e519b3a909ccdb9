"""Delayed ACKs, modelled on Linux: when a receiver acknowledges at once, and when it waits.

Theory of operation: a receiver need not acknowledge every data segment. RFC 1122
(4.2.3.2) and RFC 5681 (4.2) let it wait a little, hoping to ride the ACK on data it
is about to send or to cover two segments with one ACK, as long as at least every
second full-sized segment is acknowledged and no ACK waits longer than 500 ms.
Linux does this by default (``net/ipv4/tcp_input.c``, ``__tcp_ack_snd_check`` and
``tcp_event_data_recv``), and this module follows its rules, in our words:

* **two full segments**: once more than one receive-MSS of data has arrived since the
  last ACK went out (Linux compares ``rcv_nxt - rcv_wup`` with ``rcv_mss``), the ACK
  goes at once. Two full-sized segments therefore always draw one ACK;
* **the timer**: otherwise the ACK waits for the delayed-ACK timer. Linux starts it at
  ``TCP_ATO_MIN`` (40 ms) and adapts it between that and ``TCP_DELACK_MAX`` (200 ms)
  from the gaps between arriving segments; we keep it fixed, at 40 ms by default
  (``TcpParams.delayed_ack_timeout``), which is what a request/response exchange on a
  fresh Linux connection sees;
* **quick ACKs at the start**: when the first data arrives, Linux acknowledges the next
  ``rcv_wnd / (2 * rcv_mss)`` segments at once, at most ``TCP_MAX_QUICKACKS`` (16) and
  at least 2 (``tcp_incr_quickack``), so slow start is not held back by the receiver.
  Every segment this end sends that acknowledges data not yet acknowledged (a pure
  ACK, or data carrying a pending ACK) spends one (``tcp_dec_quickack_mode``). After
  the connection has been idle for longer than the RTO the budget is refilled;
* **out of order**: a segment beyond the next expected byte, a duplicate, and one that
  fills a hole are acknowledged at once (RFC 5681 4.2; Linux marks them ``ICSK_ACK_NOW``
  or re-enters quick-ACK mode), so fast retransmit sees its duplicate ACKs in time;
* **piggybacking**: any data segment (or FIN) this end sends carries the ACK, and the
  timer is cancelled; so is it when a pure ACK goes out for any other reason.

Not modelled: the adaptive ACK timeout (``ato``), Linux's "ping-pong" (interactive)
mode, the receive-window condition on the two-segment rule, and delaying the ACK of a
FIN: segments that take the connection's slow path (a FIN, or data outside
ESTABLISHED) are acknowledged at once, as before.

The timer is not a process: the delayed-ACK deadline is one more term of the
connection's single :attr:`deadline`, which the stack's lazy timer already serves.
The decision "may this ACK wait?" is taken in one place, the in-order fast path of
``TcpConnection.receive`` (every other receive path acknowledges at once), written
out inline there; this base class holds the state, the quick-ACK budget and
:meth:`DelayedAck._ack_sent`, the bookkeeping when an ACK goes out (also inlined
for the pure ACK of the fast path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

#: Most segments acknowledged at once at the start (Linux ``TCP_MAX_QUICKACKS``).
MAX_QUICKACKS = 16

INF = float("inf")


def quick_acks(receive_window: int, mss: int) -> int:
    """Segments acknowledged at once when data starts (Linux ``tcp_incr_quickack``).

    Args:
        receive_window: The receive window this end advertises, bytes.
        mss: The MSS of the segments it receives.
    """
    return min(max(receive_window // (2 * mss), 2), MAX_QUICKACKS)


class DelayedAck:
    """The delayed-ACK state and decisions of one connection (its base class).

    Fields: ``_ack_pending`` (an ACK is owed), ``_delack`` (the timer's length, 0 when
    delayed ACKs are off), ``_dack_at`` (when the timer fires, ``inf`` if not armed),
    ``_quick`` (quick ACKs left), ``_quick_max`` (the budget a refill restores),
    ``_ack_now`` (the data just taken must be acknowledged at once), ``_rcv_wup``
    (``rcv_nxt`` when the last ACK went out) and ``_rcv_at`` (when data last came).
    The connection's constructor sets them (no ACK owed, no timer armed, ``_delack``
    from :class:`~lbsim.transport.params.TcpParams`).
    """

    __slots__ = (
        "_ack_now",
        "_ack_pending",
        "_dack_at",
        "_delack",
        "_quick",
        "_quick_max",
        "_rcv_at",
        "_rcv_wup",
    )

    if TYPE_CHECKING:
        _ack_now: bool
        _ack_pending: bool
        _dack_at: float
        _delack: float
        _quick: int
        _quick_max: int
        _rcv_at: float
        _rcv_wup: int
        rcv_nxt: int

        def _set_deadline(self) -> None: ...

    def _ack_sent(self) -> None:
        """A segment carrying the ACK went out: the pending ACK is answered.

        Spends a quick ACK only if an ACK was pending (Linux ``tcp_dec_quickack_mode``
        counts one per transmitted segment that acknowledges new data).
        """
        if self._ack_pending:
            self._ack_pending = False
            if self._quick:
                self._quick -= 1
        self._ack_now = False
        self._rcv_wup = self.rcv_nxt
        if self._dack_at != INF:
            self._dack_at = INF
            self._set_deadline()
