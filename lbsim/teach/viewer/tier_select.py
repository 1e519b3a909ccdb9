"""``lbsim view --connections`` / ``--client`` on a topology: a client's traffic on every tier.

Theory of operation: on a star the capture picks the connections (it sees every
link, since the balancer is at one end of each). On a topology a client's request
crosses many links and several TCP connections, so the page picks them here, from
the run's segment records and message marks:

1. The *client connections*: those whose SYN a client host sent, in the order
   their first SYN left it; ``--client`` keeps one host's, group's or address's,
   ``--connections N`` the first N (after ``--client``, if both are given).
2. A connection a *forwarding* element (a router, an L4 NAT or DSR instance)
   passes on is the same TCP connection, perhaps under other addresses: its SYN
   leaves the element with the sequence number of the SYN that reached it. Such a
   connection is linked to the kept one, and kept whole too.
3. A *terminating* element (an L4 proxy, an L7 proxy) sends the request on a
   connection of its own, marked with the client request's id. Every connection
   that carries a kept request is linked. If it carries only kept requests it is
   kept whole; a pooled upstream connection also carrying other clients' requests
   is kept as the star's capture keeps it: its handshake, its close, the segments
   of the kept requests and responses, and the ACKs of those segments.

Steps 2 and 3 repeat until no connection is added, so a request is followed
through any number of tiers. :func:`linked_rows` returns the rows kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from lbsim.capture.limits import client_addresses
from lbsim.net.addresses import ip_to_str
from lbsim.records import SegmentRecord
from lbsim.scenario import Scenario
from lbsim.teach.messages import request_id_of
from lbsim.teach.tier_nodes import topology_nodes

__all__ = ["client_connections", "linked_rows"]

_SEQ = 2**32


def _opening(rec: SegmentRecord) -> bool:
    flags = rec.flags.split(",")
    return "SYN" in flags and "ACK" not in flags


def client_connections(
    scenario: Scenario,
    variant: str,
    records: Sequence[SegmentRecord],
    connections: int | None,
    client: str | None,
) -> list[str]:
    """The client connections a page keeps, in the order their first SYN left the client."""
    nodes = topology_nodes(scenario, variant)
    hosts = {n.name for n in nodes.values() if n.role == "client"}
    wanted = None
    if client is not None:
        wanted = {ip_to_str(ip) for ip in client_addresses(scenario, client)}
    order: dict[str, None] = {}
    for rec in records:
        sender = rec.link.partition(">")[0]
        if sender in hosts and _opening(rec) and (wanted is None or rec.src in wanted):
            order.setdefault(rec.connection, None)
    chosen = list(order)
    return chosen if connections is None else chosen[:connections]


def linked_rows(
    scenario: Scenario,
    variant: str,
    records: Iterable[SegmentRecord],
    marks: dict[int, tuple[tuple[int, Any], ...]],
    connections: int | None,
    client: str | None,
) -> set[int]:
    """Rows of ``records`` on the chosen client connections and every connection linked to them.

    Args:
        scenario: A scenario with ``topology:``.
        variant: The variant run.
        records: The run's segment records, in trace order.
        marks: Row -> the messages whose last byte that segment carries.
        connections: Keep the first N client connections.
        client: Keep one client host, group or address's connections.

    Raises:
        ValueError: If ``client`` names no client of the scenario.
    """
    records = list(records)  # read once (a spilled record log is slow to index)
    nodes = topology_nodes(scenario, variant)
    forwards = {n.name for n in nodes.values() if n.forwards}
    start = client_connections(scenario, variant, records, connections, client)
    by_conn: dict[str, list[int]] = defaultdict(list)
    syn_out: dict[tuple[str, int], set[str]] = defaultdict(set)
    syn_in: dict[str, list[tuple[str, int]]] = defaultdict(list)
    carries: dict[str, set[str]] = defaultdict(set)
    for row, rec in enumerate(records):
        by_conn[rec.connection].append(row)
        sender, _, receiver = rec.link.partition(">")
        if _opening(rec):
            syn_out[(sender, rec.seq)].add(rec.connection)
            if receiver in forwards:
                syn_in[rec.connection].append((receiver, rec.seq))
        for _, message in marks.get(row, ()):
            rid = request_id_of(message)
            if rid is not None:
                carries[rec.connection].add(rid)
    whole: set[str] = set()
    partial: set[str] = set()
    requests: set[str] = set()
    todo = list(start)
    while todo:
        while todo:
            conn = todo.pop()
            if conn in whole:
                continue
            whole.add(conn)
            requests |= carries.get(conn, set())
            todo.extend(_forwarded(conn, syn_in, syn_out))
        # Connections carrying a kept request (terminating elements' own).
        for other, rids in carries.items():
            if other in whole or not rids & requests:
                continue
            if rids <= requests:
                todo.append(other)
            elif other not in partial:
                # A pooled connection, and its forwarded copies, are kept in part.
                stack = [other]
                while stack:
                    c = stack.pop()
                    if c not in partial:
                        partial.add(c)
                        stack.extend(_forwarded(c, syn_in, syn_out))
    kept = {row for conn in whole for row in by_conn[conn]}
    for conn in partial - whole:
        kept |= _exchanges(records, marks, by_conn[conn], requests)
    return kept


def _forwarded(
    conn: str,
    syn_in: dict[str, list[tuple[str, int]]],
    syn_out: dict[tuple[str, int], set[str]],
) -> list[str]:
    """Connections a forwarding element passed ``conn`` on as (its SYN's sequence number)."""
    return [nxt for element, seq in syn_in.get(conn, ()) for nxt in syn_out.get((element, seq), ())]


def _exchanges(
    records: Sequence[SegmentRecord],
    marks: dict[int, tuple[tuple[int, Any], ...]],
    rows: list[int],
    requests: set[str],
) -> set[int]:
    """A shared connection's handshake, close, kept messages' segments and their ACKs."""
    kept: set[int] = set()
    pending: dict[tuple[str, int], list[int]] = defaultdict(list)
    ends: set[int] = set()
    for row in rows:
        rec = records[row]
        flags = set(rec.flags.split(","))
        if flags & {"SYN", "FIN", "RST"}:
            kept.add(row)
            continue
        if rec.payload:
            key = (rec.src, rec.sport)
            pending[key].append(row)
            found = marks.get(row)
            if found:
                waiting = pending.pop(key)
                if any(request_id_of(m) in requests for _, m in found):
                    kept.update(waiting)
                    ends.update((records[r].seq + records[r].payload) % _SEQ for r in waiting)
        elif rec.ack in ends:
            kept.add(row)
    return kept
