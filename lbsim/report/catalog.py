"""The report's figures: one registry entry each, in report order.

Theory of operation: each entry names the data it needs (bundled scenarios with
a few overrides, or small sweeps of them) and draws the figure from it with a
function of :mod:`lbsim.plots`. Runs are kept short (seconds of simulated time,
a handful of replications) so that ``lbsim figures`` regenerates the whole set
in a few minutes on a two-core machine; the captions say what each figure shows.

Figures that need engine features which do not exist yet (TLS cost, the L7 cache,
crash timelines, connection-table size) are added by the issues that bring those
features, as further entries here.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from lbsim import plots
from lbsim.plots.imbalance import imbalance_vs_parameter
from lbsim.plots.load_curve import latency_throughput_vs_load
from lbsim.plots.segments_per_side import segments_vs_parameter
from lbsim.plots.upstream_connects import upstream_connects
from lbsim.report.registry import REGISTRY, Inputs, RunData, SweepData

__all__: list[str] = []


@REGISTRY.figure(
    "latency_cdf",
    caption="Latency of successful requests (CDF), L4 NAT vs L7 proxy on the same workload of "
    "20 API callers, with the proxy's one core about 80% busy: L7 adds parsing and CPU queueing.",
    data={"run": RunData("proxy_cpu", ("clients.callers.count=20", "duration=12s"))},
)
def _latency_cdf(inputs: Inputs) -> Figure:
    return plots.latency_cdf(inputs.run("run"))


@REGISTRY.figure(
    "stickiness",
    caption="Each backend's share of requests over time for one heavy and one light "
    "long-lived connection: L4 pins each connection to one backend, L7 spreads every request.",
    data={"run": RunData("stickiness")},
)
def _stickiness(inputs: Inputs) -> Figure:
    return plots.share_over_time(inputs.run("run"))


_KEEPALIVE = "clients.browsers.requests_per_connection"


@REGISTRY.figure(
    "imbalance_vs_keepalive",
    caption="Backend imbalance against requests per keep-alive connection, 6 browsers on 4 "
    "backends: L4 places connections, so fewer and longer ones unbalance it; L7 stays even.",
    data={
        "sweep": SweepData(
            "quickstart",
            grid=(f"{_KEEPALIVE}=1,3,10,30,100,300,1000",),
            overrides=("clients.browsers.count=6", "duration=20s", "warmup=2s"),
            replications=4,
        )
    },
)
def _imbalance(inputs: Inputs) -> Figure:
    return imbalance_vs_parameter(
        inputs.sweep("sweep"),
        _KEEPALIVE,
        x_label="requests per keep-alive connection (log scale)",
        title="Backend imbalance vs keep-alive length — quickstart, 6 browsers, 4 backends",
    )


_CALLERS = "clients.callers.count"


@REGISTRY.figure(
    "load_knee",
    caption="p99 latency and throughput against offered load: an L7 proxy on one core at "
    "4 ms CPU per request saturates near 245 requests/s, while the L4 NAT keeps up.",
    data={"sweep": SweepData("proxy_cpu", grid=(f"{_CALLERS}=5:50:5",), replications=3)},
)
def _load_knee(inputs: Inputs) -> Figure:
    return latency_throughput_vs_load(
        inputs.sweep("sweep"),
        _CALLERS,
        offered_per_unit=10.0,  # each caller thinks exp(100 ms) between requests
        offered_label="offered load at zero latency, callers ÷ 100 ms (requests/s)",
        x_label="concurrent callers (closed loop, one request per connection)",
        title="The L7 CPU knee — proxy_cpu (L7: 1 core, 4 ms per request)",
    )


_MTU = "network.backend_link.mtu"


@REGISTRY.figure(
    "segments_vs_mtu",
    caption="Segments on client-side and backend-side links against the backend link's MTU "
    "(client links 1500 B): the L4 NAT carries the same segments on both sides, the L7 proxy "
    "segments each side for its own link.",
    data={
        "sweep": SweepData(
            "quickstart",
            grid=(f"{_MTU}=576,1500,3000,4500,6000,9000",),
            overrides=("clients.browsers.count=10", "duration=10s", "warmup=1s"),
        )
    },
)
def _segments(inputs: Inputs) -> Figure:
    return segments_vs_parameter(
        inputs.sweep("sweep"),
        _MTU,
        x_label="backend link MTU (bytes); client links stay at 1500 B",
        title="Segments per side vs backend MTU — quickstart, 10 browsers, 10 s",
    )


@REGISTRY.figure(
    "warm_vs_cold_connects",
    caption="An L7 proxy with backends 5 ms away: requests that must first open an upstream "
    "connection pay one more backend round trip; 8 pre-opened (warm) connections per backend "
    "spare the first requests that cost.",
    data={"run": RunData("upstream_pool")},
)
def _warm_vs_cold(inputs: Inputs) -> Figure:
    return upstream_connects(
        inputs.run("run"),
        labels={
            "cold": "cold (pool.warm = 0)",
            "warm": "warm (pool.warm = 8 per backend)",
        },
    )
