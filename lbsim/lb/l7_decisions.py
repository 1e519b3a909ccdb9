"""What the layer-7 proxy decided about each request, recorded as data.

Theory of operation: the proxy decides per request (concept C17), so every
decision it takes is one :class:`~lbsim.records.DecisionRecord` naming the
request and the client connection it came on: the rule that matched and the
backend the rule's algorithm picked, with the state the algorithm looked at (the
requests in flight on the backend picked and on the other candidates) and how the
request reaches it (a pooled connection, a new one, or a wait for one); a retry;
a cache hit; a refusal at the edge; each backend the pick skipped because it was
marked down, ejected or draining. The words are the teaching tools' business
(:mod:`lbsim.teach.sentences`); nothing here builds a string for people.

These records are one (or more) per request, so the proxy keeps them only when
the recorder is ``detailed`` (a run with its segment trace, as the teaching
tools make): a long run would otherwise hold millions of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lbsim.app.http import HttpRequest
from lbsim.lb.backends import BackendRef
from lbsim.lb.routing import Rule
from lbsim.net.addresses import endpoint_str
from lbsim.transport.tcp import TcpConnection

if TYPE_CHECKING:
    from lbsim.lb.l7 import L7Balancer
    from lbsim.lb.l7_buffers import ClientSide

__all__ = [
    "client_conn",
    "record_cache_hit",
    "record_pick",
    "record_refusal",
    "record_skips",
    "rule_label",
]

#: Why the edge refused a request, by the stage that refused it and its status.
REFUSALS = {
    ("block", 403): "blocked",
    ("route", 404): "no rule matched",
    ("admit", 401): "not authenticated",
    ("admit", 403): "user not allowed",
}


def client_conn(conn: TcpConnection) -> str:
    """A client connection as ``SegmentRecord.connection`` writes it (client first)."""
    return (
        f"{endpoint_str(conn.remote_ip, conn.remote_port)}-"
        f"{endpoint_str(conn.local_ip, conn.local_port)}"
    )


def rule_label(rule: Rule) -> str:
    """How a rule reads: its path prefix, exact path, methods and headers (``*``: none)."""
    parts = []
    if rule.methods is not None:
        parts.append("|".join(sorted(rule.methods)))
    if rule.path_prefix is not None:
        parts.append(rule.path_prefix)
    if rule.path is not None:
        parts.append(f"={rule.path}")
    parts += [f"{name}: {value}" for name, value in rule.headers]
    return " ".join(parts) or "*"


def record_pick(
    lb: L7Balancer,
    client: ClientSide,
    req: HttpRequest,
    attempt: tuple[Rule, int],
    backend: BackendRef,
    candidates: Sequence[BackendRef],
    now: float,
) -> None:
    """Record one pick: ``rule_match`` (``l7_pick`` through a catch-all rule, ``retry``).

    Args:
        lb: The proxy.
        client: The client connection the request came on.
        req: The request.
        attempt: The rule that routed it and this try's number (1: the first).
        backend: The backend picked (its ``active`` not yet counting this request).
        candidates: The backends the algorithm chose among.
        now: When it picked.
    """
    rule, tries = attempt
    pool = lb.pools[backend.name]
    if pool.idle:
        upstream = "pooled"
    elif lb.pool_max is None or pool.open < lb.pool_max:
        upstream = "new"
    else:
        upstream = "wait"
    label = rule_label(rule)
    reason = "retry" if tries > 1 else ("l7_pick" if label == "*" else "rule_match")
    others = ", ".join(str(b.active) for b in candidates if b is not backend)
    lb.recorder.decide(
        now, lb.name, reason, connection=client_conn(client.conn), request=req.request_id,
        backend=backend.name, rule=label, group=rule.group, algorithm=rule.algorithm.name,
        method=req.method, path=req.path, bytes=req.size, in_flight=backend.active,
        others=others, upstream=upstream, tries=tries,
    )  # fmt: skip


def record_skips(
    lb: L7Balancer,
    client: ClientSide,
    rid: str,
    rule: Rule,
    candidates: Sequence[BackendRef],
    now: float,
) -> None:
    """One ``backend_down`` per backend of ``rule`` left out of ``candidates``."""
    if len(candidates) == len(rule.backends):
        return
    kept = {b.name for b in candidates}
    for b in rule.backends:
        if b.name in kept:
            continue
        state = "draining" if b.draining else ("down" if not b.healthy else "ejected")
        if state == "ejected" and b.ejected_until <= now:
            continue  # excluded only because this request already failed on it
        lb.recorder.decide(
            now, lb.name, "backend_down", connection=client_conn(client.conn), request=rid,
            backend=b.name, state=state,
        )  # fmt: skip


def record_refusal(
    lb: L7Balancer, client: ClientSide, rid: str, stage: str, status: int, now: float
) -> None:
    """Record that the edge answered a request itself (``refused``)."""
    lb.recorder.decide(
        now, lb.name, "refused", connection=client_conn(client.conn), request=rid,
        why=REFUSALS.get((stage, status), stage), status=status,
    )  # fmt: skip


def record_cache_hit(lb: L7Balancer, client: ClientSide, req: HttpRequest, now: float) -> None:
    """Record that the cache answered a request (``cache_hit``)."""
    lb.recorder.decide(
        now, lb.name, "cache_hit", connection=client_conn(client.conn),
        request=req.request_id, path=req.path,
    )  # fmt: skip
