"""Weights from backend load reports at layer 7 (Envoy client-side WRR with ORCA).

Theory of operation: backends of a group with ``load_report_period`` put their
recent utilisation and request rate on every response
(:mod:`lbsim.app.load_report`). A layer-7 balancer with ``weights_from_reports``
reads that header as the response passes and sets the serving backend's weight,
in the algorithm of the route that chose it, to
``qps / utilization`` (:func:`lbsim.lb.algorithms.weights.weight_from_report`):
requests per second the backend gets done per unit of busy capacity. A backend
that slows down needs more utilisation for the same rate, so its weight -- and
its share of a weighted round robin -- falls, without anyone configuring it.
Envoy's blackout period and weight expiry are not modelled: a report counts as
soon as it arrives. A layer-4 balancer cannot read the header.
"""

from __future__ import annotations

from lbsim.app.http import HttpResponse
from lbsim.app.load_report import HEADER, parse_report
from lbsim.lb.algorithms.weights import weight_from_report

__all__ = ["ReportedWeights"]

_KEY = HEADER.lower()


class ReportedWeights:
    """Turns load reports on responses into algorithm weights; counts the updates."""

    def __init__(self) -> None:
        self.updates = 0

    def observe(self, algorithm: object, backend: str, resp: HttpResponse) -> None:
        """Set ``backend``'s weight in ``algorithm`` from the report ``resp`` carries, if any."""
        for name, value in resp.headers:
            if name.lower() != _KEY:
                continue
            report = parse_report(value)
            if report is None:
                return
            utilization, rps = report
            if utilization > 0 and rps > 0:
                algorithm.set_weight(backend, weight_from_report(rps, utilization))  # type: ignore[attr-defined]
                self.updates += 1
            return

    def counters(self) -> dict[str, float]:
        """``lb.weight_updates``: weights set from reports."""
        return {"lb.weight_updates": float(self.updates)}
