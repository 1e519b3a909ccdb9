"""``lbsim trace`` on a topology: one request hop by hop across tiers and instances.

Theory of operation: on a scenario with ``topology:`` a request crosses many
links -- the client's access link, site and routers, one instance of each tier,
a service's router, the backend -- and each terminating tier (an L4 proxy, an L7
proxy) carries it on a TCP connection of its own. The engine marks, on every
segment, the application messages whose last byte it carries, and an upstream
request keeps the client request's id, so the request's *steps* are found on
every link the same way (:func:`tier_path`): the segment that carried the
request's (or its response's) last byte on that link, with the segments that
carried the rest of it (:func:`lbsim.teach.follow.message_rows`), in order of
send time.

Steps are grouped into TCP connections: a forwarding element (a router, an L4
NAT or DSR instance) passes the client's own connection on -- the same sequence
numbers, possibly other addresses -- while a terminating one sends the request on
another connection, numbered in path order. Each element on the path is named
(``maglev-2``: instance 2 of tier ``maglev``; :mod:`lbsim.teach.tier_nodes`)
and under it stand the decisions it recorded for this request or its connection
(an ECMP pick at a router, a Maglev table miss, an L7 rule match), worded by
:mod:`lbsim.teach.sentences`, and the header fields it added to the request
(``X-Forwarded-For``, ``Forwarded``), read from the messages themselves.

A tier that retries a request (on another backend, perhaps over the same link)
sends it again on another connection or further along a pooled one: each try is a
step of its own (steps are told apart by link, connection, direction and sequence
number, so only a retransmission of the same bytes is folded), the element's line
says ``tries again (try N)``, and the path line continues with ``; then ...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lbsim.records import DecisionRecord
from lbsim.teach.follow import message_rows
from lbsim.teach.hops import cell_text
from lbsim.teach.messages import describe, is_request, request_id_of, unwrap
from lbsim.teach.sentences import sentence
from lbsim.teach.tier_nodes import TierNode, node_of, topology_nodes
from lbsim.teach.trace import Trace

__all__ = ["Step", "tier_path", "tier_trace_text"]

#: Connection-level decisions (taken when a connection opens, for all its requests).
_CONNECTION_REASONS = frozenset({"ecmp_pick", "table_miss", "mss_clamp", "proxy_pick"})


@dataclass(frozen=True, slots=True)
class Step:
    """One message (the request or its response) on one link of the path.

    Attributes:
        row: Segment row carrying the message's last byte.
        rows: Segment rows carrying its bytes (first transmissions), in order.
        link: Link name, ``sender>receiver``.
        sender: Element that sent it on this link.
        receiver: Element at the far end.
        request: Whether the message is the request (else its response).
        message: The engine's message value.
        connection: Connection id on this link (``ip:port-ip:port``).
        number: 1-based number of the TCP connection along the path (a forwarded
            connection keeps its number, a terminating element's own gets the next).
    """

    row: int
    rows: tuple[int, ...]
    link: str
    sender: str
    receiver: str
    request: bool
    message: Any
    connection: str
    number: int


def tier_path(trace: Trace, request_id: str) -> list[Step]:
    """The steps of ``request_id`` in a topology trace, in order of send time.

    Raises:
        KeyError: If the request is not in the trace, or no segment carried it.
    """
    trace.request(request_id)
    # One step per link, connection, direction and stream position: a retransmitted
    # segment repeats its sequence number, a retry (by a tier or the client) does not.
    seen: dict[tuple[str, str, bool, int], tuple[int, int, Any]] = {}
    for row in sorted(trace.marks):
        if bool(trace.cell(row, "dropped")):
            continue
        for offset, message in trace.marks[row]:
            if request_id_of(message) != request_id:
                continue
            key = (
                str(trace.cell(row, "link")),
                str(trace.cell(row, "connection")),
                is_request(message),
                int(trace.cell(row, "seq")),
            )
            seen.setdefault(key, (row, offset, message))
    if not seen:
        raise KeyError(f"no segment of request {request_id} in this trace")
    ordered = sorted(
        seen.items(), key=lambda item: (float(trace.cell(item[1][0], "time")), item[1][0])
    )
    steps: list[Step] = []
    numbers: dict[str, int] = {}
    for (link, _, request, _), (row, offset, message) in ordered:
        sender, _, receiver = link.partition(">")
        connection = str(trace.cell(row, "connection"))
        number = numbers.get(connection)
        if number is None:
            seq = int(trace.cell(row, "seq"))
            came = next(
                (
                    s
                    for s in reversed(steps)
                    if s.receiver == sender
                    and s.request == request
                    and int(trace.cell(s.row, "seq")) == seq
                ),
                None,
            )
            number = came.number if came is not None else max(numbers.values(), default=0) + 1
            numbers[connection] = number
        size = int(getattr(message, "size", 0)) or 1
        rows = message_rows(trace, row, offset, size)
        steps.append(Step(row, rows, link, sender, receiver, request, message, connection, number))
    return steps


def _ms(t: float) -> str:
    return f"{t * 1000:.3f} ms"


def _endpoints(trace: Trace, row: int) -> str:
    c = trace.cell
    return f"{c(row, 'src')}:{int(c(row, 'sport'))} -> {c(row, 'dst')}:{int(c(row, 'dport'))}"


def _head_fields(message: Any) -> dict[str, str]:
    """An HTTP message's header fields (name -> value); empty for other messages."""
    head = getattr(unwrap(message), "head", None)
    if not callable(head):
        return {}
    fields: dict[str, str] = {}
    for line in str(head()).split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def _added_headers(before: Any, after: Any) -> list[str]:
    old, new = _head_fields(before), _head_fields(after)
    return [
        f"{name}: {value}"
        for name, value in new.items()
        if name.lower() in ("x-forwarded-for", "forwarded") and old.get(name) != value
    ]


def _what(trace: Trace, came: Step, left: Step) -> str:
    """What an element did between the step that reached it and the one it sent."""
    where = f"to {left.receiver}"
    if came.number == left.number:
        before, after = _endpoints(trace, came.row), _endpoints(trace, left.row)
        if before == after:
            return f"forwards it {where} (addresses and ports kept)"
        return f"forwards it {where}, rewriting {before} into {after}"
    return (
        f"ends TCP connection #{came.number} and sends the "
        f"{'request' if left.request else 'response'} on connection #{left.number} {where}"
    )


def _came(before: list[Step], step: Step) -> Step | None:
    """The latest earlier step (same direction) that reached this step's sender."""
    return next((s for s in reversed(before) if s.receiver == step.sender), None)


def _chains(part: list[Step]) -> str:
    """``a > b > c``, a new ``; then x > y`` where a step does not leave the last element."""
    text = part[0].sender
    last = part[0].sender
    for s in part:
        if s.sender != last:
            text += f"; then {s.sender}"
        text += f" > {s.receiver}"
        last = s.receiver
    return text


def _decisions(trace: Trace, steps: list[Step], request_id: str) -> dict[str, list[DecisionRecord]]:
    """The decisions each element took for this request or for a connection it crossed."""
    connections = {s.connection for s in steps}
    last = max(float(trace.cell(s.row, "time")) for s in steps)
    mine: dict[str, list[DecisionRecord]] = {}
    for d in trace.decisions:
        if d.time > last:
            break
        if d.request == request_id or (
            d.request is None and d.reason in _CONNECTION_REASONS and d.connection in connections
        ):
            mine.setdefault(d.device, []).append(d)
    return mine


def _describe_node(node: TierNode) -> str:
    return f"{node.name} ({node.text})"


def _phase(
    trace: Trace,
    steps: list[Step],
    nodes: dict[str, TierNode],
    decided: dict[str, list[DecisionRecord]],
    start: int,
) -> list[str]:
    """The numbered lines of one direction (the request's or the response's steps)."""
    lines: list[str] = []
    tries: dict[str, int] = {}
    for k, step in enumerate(steps):
        node = node_of(nodes, step.sender)
        n = start + k
        came = _came(steps[:k], step)
        if came is None or came.number != step.number:
            tries[step.sender] = tries.get(step.sender, 0) + 1
        again = tries.get(step.sender, 1) > 1 and (came is None or came.number != step.number)
        if came is None:
            what = describe(step.message).l7 or type(unwrap(step.message)).__name__
            verb = "sends" if step.request else "answers with"
            action = f"{verb} {what} on TCP connection #{step.number} to {step.receiver}"
        else:
            action = _what(trace, came, step)
            added = _added_headers(came.message, step.message)
            if added:
                action += "; adds " + "; ".join(added)
        if again:
            action = f"tries again (try {tries[step.sender]}): {action}"
        count = len(step.rows)
        lines.append(f"{n}. {_describe_node(node)}")
        lines.append(f"   {action}")
        sent = _ms(float(trace.cell(step.rows[0], "time")))
        lines.append(
            f"   link {step.link}: {_endpoints(trace, step.row)}, sent {sent}, "
            f"{count} segment{'s' if count != 1 else ''}"
        )
        for d in decided.pop(step.sender, []):
            lines.append(f"   decided at {_ms(d.time)}: {sentence(d)}")
    return lines


def tier_trace_text(trace: Trace, request_id: str) -> str:
    """``lbsim trace``'s text for one request of a topology run.

    Raises:
        KeyError: If the request is not in the trace.
    """
    steps = tier_path(trace, request_id)
    rec = trace.request(request_id)
    nodes = topology_nodes(trace.scenario, trace.variant)
    decided = _decisions(trace, steps, request_id)
    up = [s for s in steps if s.request]
    down = [s for s in steps if not s.request]
    lines = [
        f"Request {request_id} through variant {trace.variant} on the topology of "
        f"{trace.scenario.name}",
        f"  {rec['method']} {rec['path']} -> {cell_text(rec['backend']) or 'no backend'}, "
        f"status {cell_text(rec['status']) or '–'} ({rec['outcome']}), "
        f"latency {rec['latency'] * 1000:.3f} ms",
    ]
    for label, part in (("request", up), ("response", down)):
        if part:
            lines.append(f"  {label} path: {_chains(part)}")
    numbers = sorted({s.number for s in steps})
    lines.append(
        f"  TCP connections: {len(numbers)}"
        + (", linked by the request's id" if len(numbers) > 1 else "")
    )
    for number in numbers:
        on = [s for s in steps if s.number == number]
        first = next((s for s in on if s.request), on[0])
        end = [s for s in on if s.request == first.request][-1].receiver
        lines.append(
            f"    #{number} {_endpoints(trace, first.row)}: opened by {first.sender}, "
            f"ended by {end}"
        )
    lines.append("")
    lines.append("Request, hop by hop:")
    lines.extend(_phase(trace, up, nodes, decided, 1))
    if up:
        final = node_of(nodes, up[-1].receiver)
        lines.append(f"{len(up) + 1}. {_describe_node(final)}")
        lines.append(
            "   reads the request and answers"
            if final.role == "backend"
            else "   reads the request"
        )
        for d in decided.pop(final.name, []):
            lines.append(f"   decided at {_ms(d.time)}: {sentence(d)}")
    if down:
        lines.append("")
        lines.append("Response, hop by hop:")
        lines.extend(_phase(trace, down, nodes, decided, len(up) + 2))
        last = node_of(nodes, down[-1].receiver)
        lines.append(f"{len(up) + len(down) + 2}. {_describe_node(last)}")
        lines.append("   reads the response")
    return "\n".join(lines) + "\n"
