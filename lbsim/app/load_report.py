"""Backend load reports: utilisation and request rate on every response (ORCA-style).

Theory of operation: with Envoy's client-side weighted round robin, backends tell
the balancer how loaded they are through ORCA (Open Request Cost Aggregation)
reports -- per response, in the ``endpoint-load-metrics`` header, whose text
form is ``TEXT cpu_utilization=0.42, rps_fractional=180.5`` -- and the balancer
turns each report into a weight (:func:`lbsim.lb.algorithms.weights.weight_from_report`).

A backend's reporter measures over tumbling periods: when a response is written
at least ``period`` after the last mark, the period's utilisation (worker-seconds
of service completed in it over workers × its length) and request rate (requests
completed over its length) become the current report, and a new period starts.
Every response carries the latest completed report; none before the first
period has ended. Work is counted when it completes, which over periods much
longer than a service time (1 s against milliseconds) is a fine approximation.
"""

from __future__ import annotations

__all__ = ["HEADER", "LoadReporter", "parse_report"]

#: The response header carrying a report (ORCA's HTTP header).
HEADER = "Endpoint-Load-Metrics"


class LoadReporter:
    """The load one backend reports, measured over tumbling periods."""

    def __init__(self, period: float, start: float) -> None:
        self.period = period
        self._mark = start
        self._busy = 0.0
        self._served = 0
        self._report: tuple[str, str] | None = None

    def header(
        self, now: float, busy_time: float, served: int, workers: int
    ) -> tuple[str, str] | None:
        """The report header for a response written at ``now`` (None: no period ended yet).

        Args:
            now: Current simulated time.
            busy_time: The backend's worker-seconds of service completed so far.
            served: Requests it completed so far.
            workers: Its workers.
        """
        span = now - self._mark
        if span >= self.period:
            utilization = (busy_time - self._busy) / (workers * span)
            rps = (served - self._served) / span
            self._report = (
                HEADER,
                f"TEXT cpu_utilization={utilization:.6f}, rps_fractional={rps:.6f}",
            )
            self._mark, self._busy, self._served = now, busy_time, served
        return self._report


def parse_report(value: str) -> tuple[float, float] | None:
    """``(utilization, rps)`` from a header value, or None if either is missing."""
    fields: dict[str, float] = {}
    for part in value.removeprefix("TEXT").split(","):
        key, sep, number = part.strip().partition("=")
        if sep:
            try:
                fields[key] = float(number)
            except ValueError:
                continue
    if "cpu_utilization" not in fields or "rps_fractional" not in fields:
        return None
    return fields["cpu_utilization"], fields["rps_fractional"]
