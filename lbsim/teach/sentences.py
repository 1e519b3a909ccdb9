"""One sentence per device decision, rendered from its reason code and values.

Theory of operation: decisions are data (:class:`~lbsim.records.DecisionRecord`);
this module words them for ``lbsim trace``. The packet viewer's script renders the
same records with the same words (``static/viewer-3-detail.js``, function ``sentence``); a
browser test compares the two renderings, so the page and the text never drift
apart.
"""

from __future__ import annotations

from lbsim.records import DecisionRecord

__all__ = ["algorithm_reason", "sentence"]

_WHY = {
    "round_robin": "next in rotation",
    "weighted_round_robin": "next in weighted rotation",
    "least_connections": "fewest connections",
    "least_request": "fewest requests in flight",
    "random": "random pick",
    "two_choices": "the less loaded of two random picks",
    "p2c": "the less loaded of two random picks",
    "peak_ewma": "lowest peak-EWMA latency",
    "source_hash": "hash of the client address",
    "consistent_hash": "hash ring position of the key",
    "maglev": "Maglev lookup table",
}


def algorithm_reason(values: dict[str, str | int | float]) -> str:
    """``round_robin: next in rotation``: the algorithm and, in words, how it chose."""
    name = str(values.get("algorithm", ""))
    return f"{name}: {_WHY.get(name, 'chosen by the algorithm')}"


_UPSTREAM = {
    "pooled": "; reuses a pooled connection",
    "new": "; opens a new connection to it",
    "wait": "; waits for a pooled connection to free up",
}
_SKIPPED = {"down": "marked down", "ejected": "ejected", "draining": "draining"}


def _load(v: dict[str, str | int | float]) -> str:
    """``(1 in flight, others 3, 0)``: the picked backend's load and the others'."""
    others = str(v.get("others", ""))
    return f"({v.get('in_flight')} in flight, " + (
        f"others {others})" if others else "no other candidate)"
    )


def _pick(d: DecisionRecord, v: dict[str, str | int | float]) -> str:
    """``least_request: ... picked web-3 (1 in flight, others 3); reuses ...``."""
    return (
        f"{algorithm_reason(v)} picked {d.backend} {_load(v)}"
        f"{_UPSTREAM.get(str(v.get('upstream')), '')}"
    )


def sentence(d: DecisionRecord) -> str:
    """The sentence for one decision, e.g. ``NAT table miss: new entry \u2192 web-2 (...)``."""
    v = dict(d.values)
    r = d.reason
    if r == "table_miss":
        mode = "DSR" if v.get("mode") == "dsr" else "NAT"
        return (
            f"{mode} table miss: new entry \u2192 {d.backend} "
            f"({algorithm_reason(v)}, {v.get('candidates')} candidates)"
        )
    if r == "mss_clamp":
        return f"MSS option clamped {v.get('before')} \u2192 {v.get('after')}"
    if r == "rule_match":
        return f"rule {v.get('rule')} matched \u2192 group {v.get('group')} \u2192 {_pick(d, v)}"
    if r == "l7_pick":
        return (
            f"request complete ({v.get('bytes')} B): {v.get('method')} {v.get('path')} "
            f"\u2192 {_pick(d, v)}"
        )
    if r == "retry":
        return f"retry (try {v.get('tries')}): {_pick(d, v)}"
    if r == "cache_hit":
        return f"cache hit: answered {v.get('path', '')} without a backend"
    if r == "refused":
        return f"request refused ({v.get('why')}): answered {v.get('status')} without a backend"
    if r == "proxy_pick":
        how = (
            "splices a warm pooled connection to it"
            if v.get("warm")
            else "opens its own connection to it (cold connect)"
        )
        if v.get("proxy_protocol"):
            how += f", writing a PROXY {v['proxy_protocol']} header naming the client first"
        return f"new client connection: {algorithm_reason(v)} picked {d.backend}; the proxy {how}"
    if r == "backend_down" and v.get("by") == "health_check":
        return f"health checks: {d.backend} failed {v.get('probes')} probes in a row: marked down"
    if r == "backend_down":
        return f"backend {d.backend} {_SKIPPED.get(str(v.get('state')), 'marked down')}: skipped"
    if r == "backend_up":
        return (
            f"health checks: {d.backend} passed {v.get('probes')} probes in a row: marked up again"
        )
    if r == "ejected":
        return (
            f"outlier detection: {d.backend} failed {v.get('failures')} requests in a row: "
            f"ejected for {v.get('ms')} ms"
        )
    if r == "ecmp_pick":
        return (
            f"ECMP: the 5-tuple hashes to bucket {v.get('bucket')} of {v.get('buckets')} "
            f"\u2192 {d.backend} ({v.get('alive')} of {v.get('hops')} next hops in service)"
        )
    return f"{r} {v}"
