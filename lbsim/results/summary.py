"""Summary: the ``summary.json`` block of each variant, computed in one streaming pass.

Theory of operation: the summary reads a handful of columns of every request, in
``requests.csv`` order (by ``t_start``, ties by ``request_id``), block by block from
the spilled record log (:class:`~lbsim.tables.SortedRequests`), and keeps only
aggregates, so its memory does not grow with the length of a run:

* counts (requests in the window, outcomes, completions, cache lookups and hits,
  requests per backend) are plain integers;
* latency statistics need every ``ok`` latency for exact percentiles: they are kept
  as one float64 array (8 bytes a request) in table order, so the mean sums the same
  values in the same order as it would on the whole table, bit for bit;
* stickiness needs, per client connection, the backend that served its previous
  request: a dictionary ``connection -> last backend``, one entry per connection.

Every statistic equals what :mod:`lbsim.metrics` computes on the full window of the
requests table (tests compare both); only the memory differs.

Two time ranges matter: the **statistics window** is ``[warmup, duration)`` of
simulated time (a request counts when its ``t_start`` lies in it), and the
throughput counts ``ok`` requests whose last byte arrived inside that window,
whenever they were issued, so an overloaded system shows what it completed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from lbsim import metrics
from lbsim.records import OUTCOMES, Recorder
from lbsim.tables import SortedRequests

__all__ = ["RequestTally", "VariantRunLike", "json_safe", "variant_summary"]

#: Columns of the requests the summary reads.
_COLUMNS = ("t_start", "t_end", "outcome", "backend", "cache_hit", "connection")


class VariantRunLike(Protocol):
    """What the results read from one variant's run (``lbsim.sim.VariantRun``)."""

    @property
    def name(self) -> str:
        """Variant name, as the scenario gives it."""

    @property
    def layer(self) -> int:
        """Balancing layer, 4 or 7."""

    @property
    def algorithm(self) -> str:
        """Balancing algorithm's registered name."""

    @property
    def recorder(self) -> Recorder:
        """The records the run collected."""

    @property
    def backends(self) -> tuple[str, ...]:
        """Backend names, in the scenario's order."""

    @property
    def wall_seconds(self) -> float:
        """Wall-clock seconds the run took."""


class RequestTally:
    """Streaming aggregates of one variant's requests, fed in table order.

    Args:
        warmup: Start of the statistics window, seconds.
        duration: End of the statistics window, seconds.
    """

    def __init__(self, warmup: float, duration: float) -> None:
        self.warmup = warmup
        self.duration = duration
        self.requests = 0
        self.finished = 0
        self.outcomes: dict[str, int] = {}
        self.served: dict[str, int] = {}
        self.lookups = 0
        self.hits = 0
        self.pairs = 0
        self.same = 0
        self._latencies: list[np.ndarray] = []
        self._last: dict[Any, str] = {}

    def add(self, block: dict[str, list[Any]]) -> None:
        """Count one block of rows (columns ``t_start, t_end, outcome, backend, ...``)."""
        starts = np.asarray(block["t_start"], dtype=np.float64)
        ends = np.asarray(block["t_end"], dtype=np.float64)
        ok = np.fromiter((o == "ok" for o in block["outcome"]), dtype=bool, count=len(starts))
        self.finished += int((ok & (ends >= self.warmup) & (ends < self.duration)).sum())
        inside = (starts >= self.warmup) & (starts < self.duration)
        rows = np.flatnonzero(inside).tolist()
        if not rows:
            return
        self.requests += len(rows)
        self._latencies.append((ends - starts)[inside & ok])
        outcomes, served, last = self.outcomes, self.served, self._last
        outcome, backend = block["outcome"], block["backend"]
        cache_hit, connection = block["cache_hit"], block["connection"]
        for row in rows:
            name = outcome[row]
            if name is not None:
                outcomes[name] = outcomes.get(name, 0) + 1
            hit = cache_hit[row]
            if hit is not None:
                self.lookups += 1
                self.hits += bool(hit)
            chosen = backend[row]
            if chosen is None:
                continue  # neither counted nor the "previous request" of its connection
            served[chosen] = served.get(chosen, 0) + 1
            previous = last.get(connection[row])
            if previous is not None:
                self.pairs += 1
                self.same += previous == chosen
            last[connection[row]] = chosen

    def ok_latencies(self) -> np.ndarray:
        """Latencies of the window's ``ok`` requests, in table order."""
        return np.concatenate(self._latencies) if self._latencies else np.empty(0)

    def backend_share(self, backends: Sequence[str]) -> dict[str, float]:
        """As :func:`lbsim.metrics.backend_share`: listed backends first, then others."""
        extra = sorted(name for name in self.served if name not in set(backends))
        total = sum(self.served.values())
        return {
            name: (self.served.get(name, 0) / total if total else 0.0)
            for name in [*backends, *extra]
        }

    def stickiness(self) -> float | None:
        """As :func:`lbsim.metrics.stickiness` on the window's rows."""
        return self.same / self.pairs if self.pairs else None

    def cache(self) -> dict[str, Any] | None:
        """Cache effect on the window's requests; None when the variant has no cache."""
        if not self.lookups:
            return None
        return {
            "lookups": self.lookups,
            "hits": self.hits,
            "hit_ratio": self.hits / self.lookups,
            "backend_requests_saved": self.hits,
        }


def tally(requests: SortedRequests, warmup: float, duration: float) -> RequestTally:
    """Aggregate one variant's requests, block by block in table order."""
    result = RequestTally(warmup, duration)
    for block in requests.blocks(_COLUMNS):
        result.add(block)
    return result


def _counter(counters: dict[str, float], name: str, kind: Callable[[float], Any]) -> Any:
    """A counter converted with ``kind``; ``None`` when the engine did not record it."""
    value = counters.get(name)
    if value is None or math.isnan(float(value)):
        return None
    return kind(value)


def variant_summary(run: VariantRunLike, tally: RequestTally) -> dict[str, Any]:
    """The per-variant block of ``summary.json``.

    ``offered_rps`` is the rate at which requests were issued in the window;
    ``throughput_rps`` the rate of ``ok`` completions inside it. An overloaded run
    completes fewer per second than it is offered.
    """
    window_seconds = tally.duration - tally.warmup
    outcomes = {name: tally.outcomes.get(name, 0) for name in OUTCOMES}
    completed = outcomes["ok"]
    backends = list(run.backends)
    counters = run.recorder.counters
    summary = {
        "layer": run.layer,
        "algorithm": run.algorithm,
        "requests": tally.requests,
        "completed": completed,
        "failed": tally.requests - completed,
        "outcomes": outcomes,
        "offered_rps": tally.requests / window_seconds if window_seconds > 0 else None,
        "throughput_rps": tally.finished / window_seconds if window_seconds > 0 else None,
        "latency": metrics.latency_stats(tally.ok_latencies()),
        "backend_share": tally.backend_share(backends),
        "jain_fairness": metrics.jain_fairness(tally.served.get(b, 0) for b in backends),
        "stickiness": tally.stickiness(),
        "segments": {
            "client_side": _counter(counters, "segments.client_side", int),
            "backend_side": _counter(counters, "segments.backend_side", int),
        },
        "lb": {
            "cpu_utilization": _counter(counters, "lb.cpu_utilization", float),
            "peak_buffer_bytes": _counter(counters, "lb.peak_buffer_bytes", int),
            "peak_table_entries": _counter(counters, "lb.peak_table_entries", int),
            "cpu_queue_delay": _counter(counters, "lb.cpu_mean_queue_delay", float),
        },
        "cache": tally.cache(),
        "counters": {k: v for k, v in sorted(counters.items()) if not k.startswith("backend.")},
        "wall_seconds": run.wall_seconds,
    }
    instances = _instances(counters)
    if instances:  # a topology's run: per-instance results (absent for the star)
        summary["instances"] = instances
    return summary


def _instances(counters: dict[str, float]) -> dict[str, dict[str, float]]:
    """``instance.<name>.<key>`` counters grouped by instance, in run order."""
    out: dict[str, dict[str, float]] = {}
    for key, value in counters.items():
        if key.startswith("instance."):
            name, _, rest = key.removeprefix("instance.").partition(".")
            out.setdefault(name, {})[rest] = value
    return {name: dict(sorted(values.items())) for name, values in out.items()}


def json_safe(value: Any) -> Any:
    """Replace NaN/inf by ``None`` and numpy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value
