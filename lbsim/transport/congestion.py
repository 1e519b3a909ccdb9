"""NewReno congestion control (RFC 5681, RFC 6582, RFC 6928) as plain state.

Theory of operation: the congestion window ``cwnd`` caps the bytes a sender keeps in
flight, on top of the receiver's window. It starts at ``initial_window`` segments
(10, RFC 6928) and grows with every acknowledgement:

* **slow start** while ``cwnd < ssthresh``: by the bytes newly acknowledged, at most
  ``abc`` MSS per ACK, so the window doubles every round trip (RFC 5681 3.1). ``abc``
  is 1 when every segment is acknowledged and 2 when the receiver delays ACKs: RFC 3465
  (appropriate byte counting, section 2.2) allows a limit of 2 MSS per ACK precisely so
  that an ACK for two segments opens the window by two, as Linux does by counting
  acknowledged segments; without it delayed ACKs would slow slow start to 1.5x a round;
* **congestion avoidance** above it: by ``MSS * MSS / cwnd`` per ACK (at least one
  byte), about one MSS per round trip.

Losses shrink it. Three duplicate ACKs mean a segment is missing while later ones
arrive: *fast retransmit* resends it and *fast recovery* (RFC 6582, NewReno) sets
``ssthresh`` to half the flight (at least two MSS), inflates ``cwnd`` by three MSS for
the segments that left the network, and by one more per further duplicate. An ACK
that covers only part of the flight sent before the loss (a *partial* ACK) exposes
the next hole: resend it and deflate ``cwnd`` by the bytes acknowledged. An ACK at or
beyond ``recover`` (the highest offset sent when recovery began) ends recovery with
``cwnd = ssthresh``. A retransmission timeout is the strongest signal: ``ssthresh`` =
half the flight, ``cwnd`` = one MSS, recovery abandoned. After an idle period longer
than the RTO the window returns to the initial one (RFC 5681 4.1).

The connection decides *what* to send; this class only keeps the numbers, and tells
the connection when to retransmit. The connection's per-ACK fast path does the
slow-start / congestion-avoidance growth inline (the same two lines as
:meth:`NewReno.on_ack`) to save a call per segment; tests hold the two to agreement.
"""

from __future__ import annotations

INF = float("inf")

#: What a duplicate ACK asks of the sender (see :meth:`NewReno.on_duplicate_ack`).
NOTHING, FAST_RETRANSMIT, SEND_MORE = 0, 1, 2


class NewReno:
    """Congestion state of one sender.

    Attributes:
        cwnd: Congestion window, bytes.
        ssthresh: Slow-start threshold, bytes (``inf`` until the first loss).
        dupacks: Duplicate ACKs in a row.
        in_recovery: Whether fast recovery is under way.
        recover: Highest stream offset sent when recovery began (RFC 6582).
        initial_window: Initial window in segments.
        abc: Most MSS one ACK may open the window by in slow start (1 or 2).
        limit: ``abc`` MSS in bytes.
    """

    __slots__ = (
        "abc",
        "cwnd",
        "dupacks",
        "in_recovery",
        "initial_window",
        "limit",
        "recover",
        "ssthresh",
    )

    def __init__(self, initial_window: int, mss: int, abc: int = 1) -> None:
        """Start in slow start with ``initial_window`` segments of ``mss`` bytes."""
        self.initial_window = initial_window
        self.abc = abc
        self.limit = abc * mss
        self.cwnd = initial_window * mss
        self.ssthresh: float = INF
        self.dupacks = 0
        self.in_recovery = False
        self.recover = 0

    def reset_window(self, mss: int) -> None:
        """The MSS was negotiated: the initial window is counted in that MSS."""
        self.cwnd = self.initial_window * mss
        self.limit = self.abc * mss

    def on_ack(self, acked: int, mss: int) -> None:
        """``acked`` new bytes were acknowledged outside recovery: grow the window."""
        cwnd = self.cwnd
        if cwnd < self.ssthresh:
            limit = self.limit
            self.cwnd = cwnd + (acked if acked < limit else limit)
        else:
            self.cwnd = cwnd + max(1, mss * mss // cwnd)
        self.dupacks = 0

    def on_recovery_ack(self, ack: int, acked: int, mss: int) -> bool:
        """A new ACK during fast recovery; returns True if it is partial (resend a hole)."""
        self.dupacks = 0
        if ack >= self.recover:
            self.in_recovery = False
            self.cwnd = int(self.ssthresh)
            return False
        self.cwnd = max(mss, self.cwnd - acked + mss)
        return True

    def on_duplicate_ack(self, flight: int, snd_max: int, mss: int) -> int:
        """Count one more duplicate ACK and say what the sender should do.

        Args:
            flight: Bytes outstanding (highest sent minus oldest unacknowledged).
            snd_max: Highest stream offset sent.
            mss: Sender's MSS.

        Returns:
            :data:`NOTHING`, :data:`FAST_RETRANSMIT` or :data:`SEND_MORE` (the window
            was inflated during recovery).
        """
        self.dupacks += 1
        if self.dupacks == 3 and not self.in_recovery:
            self.ssthresh = max(flight // 2, 2 * mss)
            self.in_recovery = True
            self.recover = snd_max
            self.cwnd = int(self.ssthresh) + 3 * mss
            return FAST_RETRANSMIT
        if self.dupacks > 3 and self.in_recovery:
            self.cwnd += mss
            return SEND_MORE
        return NOTHING

    def on_timeout(self, flight: int, mss: int) -> None:
        """The retransmission timer fired with ``flight`` bytes outstanding."""
        self.ssthresh = max(flight // 2, 2 * mss)
        self.cwnd = mss
        self.in_recovery = False
        self.dupacks = 0

    def restart_after_idle(self, mss: int) -> None:
        """Idle for longer than the RTO: no more than the initial window (RFC 5681 4.1)."""
        iw = self.initial_window * mss
        if self.cwnd > iw:
            self.cwnd = iw
