"""The decisions a run's devices recorded, as the viewer and ``lbsim trace`` read them.

Theory of operation: a device's decision is data, a
:class:`~lbsim.records.DecisionRecord` (a reason code plus the values behind it),
recorded by the device itself at the moment it decides; nothing here guesses a
decision after the fact. :mod:`lbsim.teach.sentences` (and the viewer's script)
word each reason code. The codes the engine records:

* L4 balancer (NAT, DSR): ``table_miss`` (new entry: the algorithm, the candidates
  and the backend chosen), ``mss_clamp`` (the MSS option before and after).
* L4 splicing proxy: ``proxy_pick`` when an accepted client connection is given a
  backend, with ``warm`` telling a warm pooled connection from a cold connect
  (and ``proxy_protocol``, the PROXY header version, when one is written).
* L7 balancer: ``rule_match`` (a routing rule with conditions matched: the rule,
  the group, the algorithm, the backend picked, its requests in flight and the
  other candidates'), ``l7_pick`` (the same through a catch-all rule), ``retry``,
  ``cache_hit``, ``refused`` (blocked, no route, not authenticated, not
  allowed), ``backend_down`` with ``state`` (a backend skipped because it is
  marked down, ejected or draining), ``ejected`` (outlier detection).
* Health checks: ``backend_down`` with ``by=health_check`` and ``backend_up``.
* Router of a topology (:mod:`lbsim.run.ecmp`): ``ecmp_pick`` when a new flow's
  5-tuple hash picks a tier instance (the bucket, the table's size, the next hops
  and how many are in service).
"""

from __future__ import annotations

from typing import Any

from lbsim.records import DecisionRecord

__all__ = ["recorded_decisions"]


def recorded_decisions(build: Any) -> list[DecisionRecord]:
    """The decisions a variant's run recorded, in time order.

    Args:
        build: The variant's build (its ``recorder`` holds the records).

    Returns:
        The records (a stable sort, so decisions taken at the same instant keep
        the order they were taken in).
    """
    return sorted(build.recorder.decisions, key=lambda d: d.time)
