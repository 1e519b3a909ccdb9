"""The retransmission timeout: RFC 6298's estimator, Karn's rule and backoff.

Theory of operation: a sender must wait for an acknowledgement long enough not to
retransmit needlessly, yet not so long that a loss stalls the connection. RFC 6298
keeps two exponentially weighted averages of measured round-trip times, the smoothed
RTT and its mean deviation::

    first sample R:   SRTT = R,                       RTTVAR = R / 2
    later samples:    RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|
                      SRTT   = 7/8 SRTT   + 1/8 R
    RTO = SRTT + 4 RTTVAR, clamped to [min_rto, max_rto]

Before any sample the RTO is the initial one (1 s, RFC 6298 section 2.1). Linux uses a
200 ms lower bound rather than the RFC's 1 s; :class:`~lbsim.transport.params.TcpParams`
chooses. When the timer fires, the RTO doubles (exponential backoff, section 5.5) up to
``max_rto`` and stays doubled until a new sample replaces it.

Samples follow Karn's rule: only a segment sent once may be timed, since the ACK of a
retransmitted one could answer either copy. The connection times one flight at a time
(it notes which offset must be acknowledged and when it left) and forgets the timing
whenever it retransmits; this class only turns samples into an RTO. It is plain state
with no clock of its own, so tests drive it with numbers.
"""

from __future__ import annotations


class RtoEstimator:
    """Smoothed RTT, RTT variation and the retransmission timeout of one connection.

    Attributes:
        srtt: Smoothed round-trip time, seconds (0 before the first sample).
        rttvar: Round-trip time variation, seconds.
        rto: Current retransmission timeout, seconds.
        min_rto: Lower bound of :attr:`rto`.
        max_rto: Upper bound of :attr:`rto`, also for backoff.
    """

    __slots__ = ("max_rto", "min_rto", "rto", "rttvar", "srtt")

    def __init__(self, initial_rto: float, min_rto: float, max_rto: float) -> None:
        """Start with no sample and the RTO at ``initial_rto``."""
        self.srtt = 0.0
        self.rttvar = 0.0
        self.rto = initial_rto
        self.min_rto = min_rto
        self.max_rto = max_rto

    def sample(self, r: float) -> None:
        """Take one round-trip time measurement ``r`` (seconds) and update the RTO."""
        if self.srtt == 0.0:
            self.srtt = r
            self.rttvar = r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        rto = self.srtt + 4 * self.rttvar
        low, high = self.min_rto, self.max_rto
        self.rto = low if rto < low else (high if rto > high else rto)

    def backoff(self) -> None:
        """The retransmission timer fired: double the RTO, up to ``max_rto``."""
        self.rto = min(self.rto * 2, self.max_rto)
