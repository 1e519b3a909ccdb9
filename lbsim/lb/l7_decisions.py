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
"""

from __future__ import annotations

from collections.abc import Sequence

from lbsim.lb.backends import BackendRef
from lbsim.lb.routing import Rule
from lbsim.net.addresses import endpoint_str
from lbsim.records import Recorder
from lbsim.transport.tcp import TcpConnection

__all__ = ["client_conn", "record_pick", "record_refusal", "record_skips", "rule_label"]

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
    recorder: Recorder,
    device: str,
    now: float,
    conn: TcpConnection,
    request: tuple[str, str, str, int],
    rule: Rule,
    backend: BackendRef,
    candidates: Sequence[BackendRef],
    upstream: str,
    tries: int,
) -> None:
    """Record one pick: ``rule_match`` (``l7_pick`` through a catch-all rule, ``retry``).

    Args:
        recorder: Where the record goes.
        device: The balancer's name.
        now: When it picked.
        conn: The client connection the request came on.
        request: ``(request id, method, path, bytes)``.
        rule: The rule that routed it.
        backend: The backend picked (its ``active`` not yet counting this request).
        candidates: The backends the algorithm chose among.
        upstream: ``pooled``, ``new`` or ``wait``: how the request reaches it.
        tries: This try's number (1: the first).
    """
    rid, method, path, size = request
    label = rule_label(rule)
    reason = "retry" if tries > 1 else ("l7_pick" if label == "*" else "rule_match")
    others = ", ".join(str(b.active) for b in candidates if b is not backend)
    recorder.decide(
        now, device, reason, connection=client_conn(conn), request=rid, backend=backend.name,
        rule=label, group=rule.group, algorithm=rule.algorithm.name, method=method, path=path,
        bytes=size, in_flight=backend.active, others=others, upstream=upstream, tries=tries,
    )  # fmt: skip


def record_skips(
    recorder: Recorder,
    device: str,
    now: float,
    conn: TcpConnection,
    rid: str,
    rule: Rule,
    candidates: Sequence[BackendRef],
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
        recorder.decide(
            now, device, "backend_down", connection=client_conn(conn), request=rid,
            backend=b.name, state=state,
        )  # fmt: skip


def record_refusal(
    recorder: Recorder,
    device: str,
    now: float,
    conn: TcpConnection,
    rid: str,
    stage: str,
    status: int,
) -> None:
    """Record that the edge answered a request itself (``refused``)."""
    recorder.decide(
        now, device, "refused", connection=client_conn(conn), request=rid,
        why=REFUSALS.get((stage, status), stage), status=status,
    )  # fmt: skip
