"""Decisions the viewer derives from a run's records where the engine records none yet.

Theory of operation: a device's decision is data, a
:class:`~lbsim.records.DecisionRecord` (reason code plus the values behind it);
the page turns it into a sentence. The L4 balancer records its own (``table_miss``
with the algorithm and the backend chosen, ``mss_clamp`` with the MSS before and
after). For the others this module derives the same kind of record from what the
run already records, and marks it ``derived``:

* L7 balancer: one ``l7_pick`` per request that reached a backend (the backend,
  the algorithm, whether the balancer opened a new upstream connection, how many
  tries it took), at the time the whole request had arrived
  (``t_lb_last_byte``); ``cache_hit`` when its cache answered.
* L4 proxy: one ``proxy_pick`` per client connection (the backend it chose), at
  the time the client's SYN was sent; the viewer attaches it to the first packet
  of that connection to reach the proxy.

What cannot be derived (which routing rule matched, which backends health checks
had marked down, the forwarded-for header) needs emission points in the engine.
"""

from __future__ import annotations

from typing import Any

from lbsim.records import DecisionRecord

__all__ = ["derived_decisions"]


def derived_decisions(build: Any, balancer: Any) -> list[DecisionRecord]:
    """Decision records derived from a finished (or stopped) run's records.

    Args:
        build: The variant's build (its ``recorder`` holds the records).
        balancer: The variant's balancer configuration.

    Returns:
        The derived decisions, each with ``derived=1`` among its values.
    """
    recorder = build.recorder
    name = balancer.name
    out: list[DecisionRecord] = []
    if balancer.layer == 7:
        for r in recorder.requests:
            if r.cache_hit:
                when = r.t_lb_last_byte if r.t_lb_last_byte is not None else r.t_start
                out.append(
                    DecisionRecord(when, name, "cache_hit", r.connection, r.request_id, None,
                                   (("path", r.path), ("derived", 1)))
                )  # fmt: skip
            elif r.backend is not None and r.t_lb_last_byte is not None:
                values: tuple[tuple[str, str | int | float], ...] = (
                    ("algorithm", balancer.algorithm),
                    ("method", r.method),
                    ("path", r.path),
                    ("bytes", r.request_bytes),
                    ("new_upstream", int(bool(r.new_upstream))),
                    ("tries", int(r.upstream_tries or 1)),
                    ("derived", 1),
                )
                out.append(
                    DecisionRecord(r.t_lb_last_byte, name, "l7_pick", r.connection,
                                   r.request_id, r.backend, values)
                )  # fmt: skip
    elif getattr(balancer, "mode", None) == "proxy":
        for c in recorder.connections:
            if c.side == "client" and c.backend is not None:
                out.append(
                    DecisionRecord(c.t_open, name, "proxy_pick", f"{c.src}-{c.dst}", None,
                                   c.backend, (("algorithm", balancer.algorithm), ("derived", 1)))
                )  # fmt: skip
    return out
