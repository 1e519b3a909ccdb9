"""TCP parameters and the links of the star topology.

Theory of operation:
    ``tcp:`` holds the parameters every connection of the run shares (windows and
    retransmission timeouts), checked against each other: ``min_rto <= initial_rto
    <= max_rto``. ``network:`` holds the two kinds of link of the star, client side
    and backend side; a link's transmit queue must hold at least one packet of its
    MTU. A client group may replace the client link with its own (``clients.py``).
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from lbsim.scenario.bounds import check_bound
from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.fields import Bandwidth, Duration, PositiveDuration, PositiveInt, Size
from lbsim.scenario.schema.base import SchemaModel
from lbsim.scenario.units import format_duration, parse_duration, parse_size

__all__ = ["LinkConfig", "NetworkConfig", "TcpConfig"]


class TcpConfig(SchemaModel):
    """TCP parameters shared by every connection in the run.

    Attributes:
        initial_window: Initial congestion window, in segments (RFC 6928: 10).
        receive_window: Receiver's advertised window, bytes.
        initial_rto: Retransmission timeout before any RTT sample, seconds.
        min_rto: Lower bound of the retransmission timeout, seconds.
        max_rto: Upper bound of the retransmission timeout, seconds.
        time_wait: How long a closed connection's port stays unusable, seconds.
        delayed_ack: Delay ACKs as Linux does (on by default, as on a Linux host).
        delayed_ack_timeout: The delayed-ACK timer, seconds (at most 500 ms).
    """

    initial_window: PositiveInt = 10
    receive_window: Size = parse_size("4MiB")
    initial_rto: PositiveDuration = parse_duration("1s")
    min_rto: PositiveDuration = parse_duration("200ms")
    max_rto: PositiveDuration = parse_duration("60s")
    time_wait: Duration = parse_duration("60s")
    delayed_ack: bool = True
    delayed_ack_timeout: PositiveDuration = parse_duration("40ms")

    @model_validator(mode="after")
    def _check_timeouts(self) -> Self:
        if self.receive_window <= 0:
            raise KeyedValueError("receive_window", "must be greater than 0")
        if self.delayed_ack_timeout > 0.5:
            raise KeyedValueError("delayed_ack_timeout", "must be at most 500ms (RFC 5681)")
        if self.min_rto > self.max_rto:
            raise KeyedValueError(
                "min_rto", f"must not exceed max_rto ({format_duration(self.max_rto)})"
            )
        if not self.min_rto <= self.initial_rto <= self.max_rto:
            raise KeyedValueError(
                "initial_rto",
                f"must lie between min_rto ({format_duration(self.min_rto)}) "
                f"and max_rto ({format_duration(self.max_rto)})",
            )
        return self


class LinkConfig(SchemaModel):
    """One network link.

    Attributes:
        latency: One-way propagation delay, seconds.
        bandwidth: Transmission rate, bits per second.
        mtu: Largest IP packet, bytes (MSS = mtu - 40).
        queue: Bytes the transmit queue may hold before it drops.
    """

    latency: Duration
    bandwidth: Bandwidth
    mtu: int = Field(default=1500, ge=576, le=65535, strict=True)
    queue: Size = parse_size("1MB")
    loss: float = Field(default=0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _check_queue(self) -> Self:
        check_bound("bandwidth", "bandwidth", self.bandwidth)
        if self.queue < self.mtu:
            raise KeyedValueError("queue", f"must hold at least one packet (mtu = {self.mtu}B)")
        return self


class NetworkConfig(SchemaModel):
    """The two kinds of link in the topology.

    Attributes:
        client_link: Between each client host and the balancer.
        backend_link: Between the balancer and each backend.
    """

    client_link: LinkConfig
    backend_link: LinkConfig
