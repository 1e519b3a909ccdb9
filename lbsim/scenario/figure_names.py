"""Names of the figures ``lbsim run`` can draw, for the scenario's ``figures:`` key.

Theory of operation: a scenario file lists the figures that show its point by
name; :class:`lbsim.scenario.schema.Scenario` checks each name against
:data:`FIGURE_NAMES` while the file is validated. The drawing functions live in
:mod:`lbsim.plots` (which imports matplotlib); this module holds only the names and
one line on what each figure shows, so that loading a scenario never imports a
plotting library. :mod:`lbsim.plots` keeps a function for every name listed here
(a test checks the two agree), except the names of :data:`LOAD_SWEEP_FIGURES`: these
need the scenario at other offered loads, which one run's results do not hold, so
``lbsim run`` draws them from a few extra short runs
(:mod:`lbsim.report.load_sweep`). A figure named ``NAME`` is written as
``figures/NAME.png``.
"""

from __future__ import annotations

__all__ = ["DEFAULT_FIGURES", "FIGURE_NAMES", "LOAD_SWEEP_FIGURES"]

#: Figure name -> what it shows (one line, also in ``docs/reference/outputs.md``).
FIGURE_NAMES: dict[str, str] = {
    "latency_cdf": "distribution (CDF) of successful-request latency, one line per variant",
    "stickiness": "each backend's share of requests over time, one panel per variant",
    "backend_requests": "requests each backend served, grouped bars per variant",
    "backend_sequence": "which backend served each consecutive request of a few connections",
    "balancer_load": "segments and payload bytes that reached the balancer, per variant",
    "connection_setup": "where the time of a request on a new connection goes, per variant",
    "load_over_time": "offered and completed requests per second, failures and latency over time",
    "balancer_cpu": "balancer CPU utilisation and CPU queueing delay over time",
    "latency_by_client": "latency of successful requests per client group, per variant",
    "path_groups": "which backend group served each request path, per variant",
    "outcomes_by_client": "what became of each client group's requests (status), per variant",
    "segments_per_side": "segments on the client side and on the backend side, per variant",
    "upstream_connects": "latency of requests on new vs pooled upstream connections (layer 7)",
    "topology": "the topology: client sites, routers, balancer tiers and instances, services",
    "instance_load": "work and CPU of each balancer instance of a topology, per tier and variant",
    "fairness_over_time": "Jain fairness of requests per backend, per window and cumulative",
    "newcomer_ramp": "share and latency of a backend added mid-run, over time, per variant",
    "client_ip_seen": "address each variant's backends record as the client's; how often it is",
    "latency_vs_load": "p99 latency and completed load against offered load (extra short runs "
    "at scaled open-loop rates)",
    "broken_connections": "connections each failed balancer instance held that broke, vs theory",
}

#: Figures drawn from extra short runs of the scenario, not from its run's results.
LOAD_SWEEP_FIGURES: tuple[str, ...] = ("latency_vs_load",)

#: Figures drawn when a scenario has no ``figures:`` key.
DEFAULT_FIGURES: tuple[str, ...] = ("latency_cdf", "stickiness", "backend_requests")
