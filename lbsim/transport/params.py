"""What a TCP connection is tuned by and what it tells the application above it.

Theory of operation: :class:`TcpParams` holds the tunables every connection of a run
shares (initial window, receive buffer, RTO bounds, TIME_WAIT, retry limits), with
Linux-like defaults. :class:`TcpListener` is the upward interface of the sans-IO
:class:`~lbsim.transport.tcp.TcpConnection`: the connection never calls the network
or a clock, it only appends segments to its output list and calls these methods when
something happens that the application must know (established, a message complete,
bytes arrived, the peer closed, the connection gone). Applications (client sessions,
backends, balancers, TLS channels) implement it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lbsim.transport.tcp import TcpConnection

#: MSS assumed when a SYN carries no MSS option (RFC 9293).
DEFAULT_MSS = 536


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
        delayed_ack: Delay ACKs as Linux does (see :mod:`lbsim.transport.delack`):
            at least every second full-sized segment is acknowledged at once, a
            lone one waits up to ``delayed_ack_timeout`` for data to ride on, with
            quick ACKs at the start of a connection and after out-of-order data.
            Off: every data segment is acknowledged at once.
        delayed_ack_timeout: The delayed-ACK timer (Linux's minimum, 40 ms).
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
    delayed_ack: bool = True
    delayed_ack_timeout: float = 0.04


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
