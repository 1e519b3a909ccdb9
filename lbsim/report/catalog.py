"""The report's figures: one registry entry each, in report order.

Theory of operation: each entry names the data it needs (bundled scenarios with
a few overrides, or small sweeps of them) and draws the figure from it with a
function of :mod:`lbsim.plots`. Runs are kept short (seconds of simulated time,
a handful of replications) so that ``lbsim figures`` regenerates the whole set
in a few minutes on a two-core machine; the captions say what each figure shows.

Figures that need engine features which do not exist yet (crash timelines, say)
are added by the issues that bring those features, as further entries here.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from lbsim import plots
from lbsim.plots.balancer_timeseries import Panel, balancer_timeseries
from lbsim.plots.cache_effect import cache_effect
from lbsim.plots.connection_setup import new_connection_latency
from lbsim.plots.connection_table import connection_table
from lbsim.plots.fidelity_agreement import fidelity_agreement
from lbsim.plots.imbalance import imbalance_vs_parameter
from lbsim.plots.load_curve import latency_throughput_vs_load
from lbsim.plots.segments_per_side import segments_vs_parameter
from lbsim.plots.upstream_connects import upstream_connects
from lbsim.report.registry import REGISTRY, Inputs, RunData, SweepData

__all__: list[str] = []

#: Figures that need no segment run at request level (``fidelity: request``): the
#: same balancers and numbers that agree with segment level (tests/fidelity), far
#: fewer events. Figures of segments, buffers, tables over time and the L4 proxy's
#: connection setup stay at segment level; figures/README.md says which is which.
_REQUEST = "fidelity=request"


@REGISTRY.figure(
    "latency_cdf",
    caption="Latency of successful requests (CDF), L4 NAT vs L7 proxy on the same workload of "
    "20 API callers, with the proxy's one core about 80% busy: L7 adds parsing and CPU queueing.",
    data={"run": RunData("proxy_cpu", ("clients.callers.count=20", "duration=12s", _REQUEST))},
)
def _latency_cdf(inputs: Inputs) -> Figure:
    return plots.latency_cdf(inputs.run("run"))


@REGISTRY.figure(
    "stickiness",
    caption="Each backend's share of requests over time for one heavy and one light "
    "long-lived connection: L4 pins each connection to one backend, L7 spreads every request.",
    data={"run": RunData("stickiness", (_REQUEST,))},
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
            overrides=("clients.browsers.count=6", "duration=20s", "warmup=2s", _REQUEST),
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
    data={
        "sweep": SweepData(
            "proxy_cpu", grid=(f"{_CALLERS}=5:50:5",), overrides=(_REQUEST,), replications=3
        )
    },
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
    data={"run": RunData("upstream_pool", (_REQUEST,))},
)
def _warm_vs_cold(inputs: Inputs) -> Figure:
    return upstream_connects(
        inputs.run("run"),
        labels={
            "cold": "cold (pool.warm = 0)",
            "warm": "warm (pool.warm = 8 per backend)",
        },
    )


# --- layer-4 state and connection setup (l4_modes) --------------------------------------------

# Few browsers and a run longer than IPVS's 120 s TIME_WAIT, so the table levels off;
# both l4_modes figures share this one run.
_L4_MODES = RunData("l4_modes", ("clients.browsers.count=4", "duration=150s"))


@REGISTRY.figure(
    "connection_table",
    caption="L4 connection table over time, l4_modes with 4 browsers and one request per "
    "connection: connections last about 0.1 s, but NAT entries linger in TIME_WAIT for 120 s "
    "(IPVS default) after they close, so the table grows for 120 s and levels off at new "
    "connections/s × 120 s; the splicing proxy's entries follow its own 60 s TCP TIME_WAIT; "
    "the L7 proxy holds only its warm pool and the connections in flight (unused pool "
    "connections idle out at 60 s and leave after their own TIME_WAIT, at 120 s).",
    data={"run": _L4_MODES},
)
def _connection_table(inputs: Inputs) -> Figure:
    return connection_table(
        inputs.run("run"),
        ["nat", "proxy"],
        compare=["l7"],
        linger={"nat": 120.0, "proxy": 60.0},  # IPVS TIME_WAIT; the proxy's TCP TIME_WAIT
        labels={
            "nat": "nat (L4 NAT)",
            "proxy": "proxy (L4 splicing proxy)",
            "l7": "l7 (L7 proxy): TCP connections it holds, both sides, warm pool included",
        },
        title="L4 connection table vs connections actually open — l4_modes, 4 browsers",
    )


@REGISTRY.figure(
    "l4_warm_pool",
    caption="Requests on new connections, l4_modes (client link 10 ms, backend link 5 ms one "
    "way): a proxy with a warm pool reaches the backend one balancer↔backend round trip (10 ms) "
    "sooner than proxy_cold, which connects first; NAT and DSR carry the client's handshake end "
    "to end and pay the same 10 ms, then wait for the response's second window over the longer "
    "end-to-end round trip; the L7 proxy reaches the backend as early as the warm L4 proxy but "
    "holds each response whole before relaying it.",
    data={"run": _L4_MODES},
)
def _l4_warm_pool(inputs: Inputs) -> Figure:
    return new_connection_latency(
        inputs.run("run"),
        reference="proxy",
        labels={
            "nat": "nat: NAT, handshake end to end",
            "proxy": "proxy: warm pool (8/backend)",
            "proxy_cold": "proxy_cold: no pool",
            "dsr": "dsr: direct server return",
            "l7": "l7: L7, warm pool, buffered responses",
        },
        title="Latency of requests on new connections — l4_modes (one request per connection)",
    )


# --- the L7 CPU as a bottleneck (tls_bottleneck) ----------------------------------------------

_RATE = "clients.newcomers.rate"


@REGISTRY.figure(
    "tls_knee",
    caption="p99 latency and throughput against the rate of new TLS 1.2 connections (one "
    "request each, full RSA-2048 handshakes): the L7 balancer terminates TLS on one core and "
    "saturates near 2,400 connections/s; past it, p99 reaches about a second within these "
    "1.5 s runs and completions fall as the core's work spreads over ever more unfinished "
    "handshakes, while the L4 balancer passes TLS through to eight backends and keeps up.",
    data={
        "sweep": SweepData(
            "tls_bottleneck",
            grid=(f"{_RATE}=500:3000:500/s",),
            overrides=("duration=1.5s", "warmup=0.5s", _REQUEST),
            replications=3,
        )
    },
)
def _tls_knee(inputs: Inputs) -> Figure:
    return latency_throughput_vs_load(
        inputs.sweep("sweep"),
        _RATE,
        x_label="new TLS connections offered per second",
        title="The L7 TLS knee — tls_bottleneck (L7: 1 core terminates TLS; L4: passthrough)",
    )


@REGISTRY.figure(
    "cpu_over_time",
    caption="Balancer CPU over time at 2,200 new TLS connections/s, just below the L7 knee: "
    "the L7 balancer's one core is about 90% busy and new work waits milliseconds for it, "
    "while the L4 NAT, which passes TLS through, stays under 10% with no wait.",
    data={
        "run": RunData("tls_bottleneck", (f"{_RATE}=2200/s", "duration=3s", "warmup=1s", _REQUEST))
    },
)
def _cpu_over_time(inputs: Inputs) -> Figure:
    return balancer_timeseries(
        inputs.run("run"),
        [
            Panel(
                "lb.cpu_utilization",
                "balancer CPU busy",
                unit="%",
                smooth=0.1,
                ceiling=100.0,
                title="CPU utilization (all cores)",
            ),
            Panel(
                "lb.cpu_queue_delay",
                "wait for a free core",
                unit="ms",
                smooth=0.1,
                title="CPU queueing delay a new job would see",
            ),
        ],
        title="Balancer CPU at 2,200 new TLS connections/s — tls_bottleneck",
    )


# --- buffering and caching at layer 7 ---------------------------------------------------------


@REGISTRY.figure(
    "buffer_over_time",
    caption="Bytes held by the balancers in slow_clients: the L7 proxy keeps each 60 KB photo "
    "upload from 256 kbit/s mobile clients until it is complete (up to about 1 MB at once), "
    "while the L4 NAT forwards every segment as it arrives and holds nothing.",
    data={"run": RunData("slow_clients", ("duration=20s",))},
)
def _buffer_over_time(inputs: Inputs) -> Figure:
    return balancer_timeseries(
        inputs.run("run"),
        [
            Panel(
                "lb.buffer_bytes",
                "bytes held in balancer buffers",
                unit="bytes",
                title="Request and response bytes the balancer holds in memory",
            )
        ],
        title="Buffered bytes — slow_clients (40 mobile uploaders, 40 broadband users)",
        height=4.6,
    )


_CACHE = "balancers.l7.cache.size"


@REGISTRY.figure(
    "cache_effect",
    caption="cache_auth against the L7 response cache's size (2,000 catalogue pages of 30 KB, "
    "Zipf popularity, 10 s runs): hits, which never reach a backend, grow until the pages asked "
    "for in the run fit (about 10 MB) and bring L7's median latency below L4's; refusals at the "
    "edge (401/403) also spare the backends, while L4, with no cache, sends every request on.",
    data={
        "sweep": SweepData(
            "cache_auth",
            grid=(f"{_CACHE}=100KB,300KB,1MB,3MB,10MB,30MB",),
            overrides=("duration=10s", "warmup=2s", _REQUEST),
            replications=3,
        )
    },
)
def _cache_effect(inputs: Inputs) -> Figure:
    return cache_effect(
        inputs.sweep("sweep"),
        _CACHE,
        x_label="L7 cache size (MB, log scale)",
        title="The L7 response cache — cache_auth",
    )


@REGISTRY.figure(
    "fidelity_agreement",
    caption="Request level (dashed) against segment level (solid) on the proxy_cpu load sweep, "
    "same seeds: mean and p99 latency and balancer CPU agree up to and past the L7 CPU knee.",
    data={
        "sweep": SweepData(
            "proxy_cpu",
            grid=(f"{_CALLERS}=5,15,25,35,45", "fidelity=segment,request"),
            replications=2,
        )
    },
)
def _fidelity_agreement(inputs: Inputs) -> Figure:
    return fidelity_agreement(
        inputs.sweep("sweep"),
        _CALLERS,
        x_label="concurrent callers (closed loop, one request per connection)",
        title="Request level vs segment level — proxy_cpu load sweep",
    )
