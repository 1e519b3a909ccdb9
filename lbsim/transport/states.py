"""The TCP connection state machine (RFC 9293, section 3.3.2) as one table.

Theory of operation: every legal transition is one entry of :data:`TRANSITIONS`,
mapping ``(state, event)`` to the next state. :class:`~lbsim.transport.tcp.TcpConnection`
changes state only through :func:`next_state`, which raises
:class:`TcpProtocolError` on a pair the table does not hold, so an impossible
sequence fails loudly instead of drifting. Because the table is data, notebooks can
draw the state diagram from it (:func:`edges`).

A reset (received or sent) leads to ``CLOSED`` from any synchronised state; that
rule is generated rather than listed by hand.
"""

from __future__ import annotations

import enum


class TcpState(enum.Enum):
    """Connection states, named as in RFC 9293."""

    # Members are singletons: identity hashing is exact and much cheaper than
    # Enum's default (hashing the member name in Python code).
    __hash__ = object.__hash__

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"


class TcpEvent(enum.Enum):
    """What can happen to a connection."""

    __hash__ = object.__hash__

    ACTIVE_OPEN = "connect"
    RECV_SYN = "rcv SYN"
    RECV_SYN_ACK = "rcv SYN,ACK"
    RECV_ACK_OF_SYN = "rcv ACK of SYN"
    CLOSE = "close"
    RECV_FIN = "rcv FIN"
    RECV_ACK_OF_FIN = "rcv ACK of FIN"
    TIMEOUT = "timeout"
    RECV_RST = "rcv RST"
    ABORT = "abort"


class TcpProtocolError(Exception):
    """An event arrived in a state where the protocol does not allow it."""


S = TcpState
E = TcpEvent

TRANSITIONS: dict[tuple[TcpState, TcpEvent], TcpState] = {
    (S.CLOSED, E.ACTIVE_OPEN): S.SYN_SENT,
    (S.LISTEN, E.RECV_SYN): S.SYN_RECEIVED,
    (S.SYN_SENT, E.RECV_SYN_ACK): S.ESTABLISHED,
    (S.SYN_SENT, E.CLOSE): S.CLOSED,
    (S.SYN_SENT, E.TIMEOUT): S.CLOSED,
    (S.SYN_RECEIVED, E.RECV_ACK_OF_SYN): S.ESTABLISHED,
    (S.SYN_RECEIVED, E.CLOSE): S.FIN_WAIT_1,
    (S.SYN_RECEIVED, E.TIMEOUT): S.CLOSED,
    (S.ESTABLISHED, E.CLOSE): S.FIN_WAIT_1,
    (S.ESTABLISHED, E.RECV_FIN): S.CLOSE_WAIT,
    (S.FIN_WAIT_1, E.RECV_ACK_OF_FIN): S.FIN_WAIT_2,
    (S.FIN_WAIT_1, E.RECV_FIN): S.CLOSING,
    (S.FIN_WAIT_2, E.RECV_FIN): S.TIME_WAIT,
    (S.CLOSING, E.RECV_ACK_OF_FIN): S.TIME_WAIT,
    (S.CLOSE_WAIT, E.CLOSE): S.LAST_ACK,
    (S.LAST_ACK, E.RECV_ACK_OF_FIN): S.CLOSED,
    (S.TIME_WAIT, E.TIMEOUT): S.CLOSED,
}

#: States in which a connection accepts application data to send: the handshake
#: is done and this end has not closed its sending direction (RFC 9293 3.10.2:
#: SEND is legal in ESTABLISHED and CLOSE-WAIT). The one definition; the TCP
#: connection, the channels, backends, clients and the L7 proxy all use it.
SENDABLE: frozenset[TcpState] = frozenset({S.ESTABLISHED, S.CLOSE_WAIT})

#: The states as module constants, for the per-segment code: ``state is CLOSED`` is one
#: global lookup where ``state is TcpState.CLOSED`` is two.
CLOSED = S.CLOSED
LISTEN = S.LISTEN
SYN_SENT = S.SYN_SENT
SYN_RECEIVED = S.SYN_RECEIVED
ESTABLISHED = S.ESTABLISHED
FIN_WAIT_1 = S.FIN_WAIT_1
FIN_WAIT_2 = S.FIN_WAIT_2
CLOSE_WAIT = S.CLOSE_WAIT
LAST_ACK = S.LAST_ACK
TIME_WAIT = S.TIME_WAIT

#: States in which a retransmission timeout gives up the connection.
_SYNCHRONISED = (
    S.SYN_RECEIVED,
    S.ESTABLISHED,
    S.FIN_WAIT_1,
    S.FIN_WAIT_2,
    S.CLOSE_WAIT,
    S.CLOSING,
    S.LAST_ACK,
)
for _state in (S.SYN_SENT, *_SYNCHRONISED, S.TIME_WAIT):
    TRANSITIONS[(_state, E.RECV_RST)] = S.CLOSED
    TRANSITIONS[(_state, E.ABORT)] = S.CLOSED
for _state in _SYNCHRONISED:
    TRANSITIONS.setdefault((_state, E.TIMEOUT), S.CLOSED)
TRANSITIONS[(S.LISTEN, E.ABORT)] = S.CLOSED


def next_state(state: TcpState, event: TcpEvent) -> TcpState:
    """Look up the state that ``event`` leads to from ``state``.

    Args:
        state: Current state.
        event: What happened.

    Returns:
        The next state.

    Raises:
        TcpProtocolError: If the table has no such transition.
    """
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TcpProtocolError(f"{event.value!r} is not allowed in state {state.value}") from None


def edges() -> list[tuple[str, str, str]]:
    """The state diagram as ``(from, to, event)`` triples, for drawing."""
    return [(a.value, b.value, e.value) for (a, e), b in TRANSITIONS.items()]
