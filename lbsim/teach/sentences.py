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


def sentence(d: DecisionRecord) -> str:
    """The sentence for one decision, e.g. ``NAT table miss: new entry → web-2 (...)``."""
    v = dict(d.values)
    if d.reason == "table_miss":
        mode = "DSR" if v.get("mode") == "dsr" else "NAT"
        return (
            f"{mode} table miss: new entry \u2192 {d.backend} "
            f"({algorithm_reason(v)}, {v.get('candidates')} candidates)"
        )
    if d.reason == "mss_clamp":
        return f"MSS option clamped {v.get('before')} \u2192 {v.get('after')}"
    if d.reason == "l7_pick":
        upstream = (
            "; opens a new connection to it"
            if v.get("new_upstream")
            else "; reuses a pooled connection"
        )
        tries = f"; {v.get('tries')} tries" if int(v.get("tries", 1)) > 1 else ""
        return (
            f"request complete ({v.get('bytes')} B): {v.get('method')} {v.get('path')} "
            f"\u2192 {algorithm_reason(v)} picked {d.backend}{upstream}{tries}"
        )
    if d.reason == "cache_hit":
        return f"cache hit: answered {v.get('path', '')} without a backend"
    if d.reason == "proxy_pick":
        return (
            f"new client connection: {algorithm_reason(v)} picked {d.backend}; "
            "the proxy opens its own connection to it"
        )
    if d.reason == "rule_match":
        return (
            f"rule {v.get('rule')} matched \u2192 group {v.get('group')} \u2192 "
            f"{algorithm_reason(v)} picked {d.backend}"
        )
    if d.reason == "backend_down":
        return f"backend {d.backend} marked down: skipped"
    return f"{d.reason} {v}"
