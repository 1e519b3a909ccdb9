"""Building the per-hop layer view: what each component did to one request, layer by layer.

Theory of operation: :func:`layer_view` follows a request through a trace
(:mod:`lbsim.teach.follow`) and describes five *hops*, the components in its path:

1. the client writes the request (every header is new);
2. the balancer takes the request in on one link and sends it out on another;
3. the backend reads the request and writes the answer;
4. the balancer (or, with direct server return, the backends' router) passes the
   answer back;
5. the client reads the answer.

For each hop it lists header fields layer by layer (L7 request or status line,
L6 TLS when present, L4 ports, sequence and acknowledgement numbers, L3 addresses,
L2 the link the frame is on, L1 the wire) *before* the component (as it arrived)
and *after* it (as it left), and what the component did with each: ``wrote``,
``read``, ``kept``, ``rewrote``, ``not read`` (payload opaque to it), ``new
connection`` (it ended the TCP connection and the bytes left on its own), or
``parsed``.

Two kinds of knowledge meet here, and the view keeps them apart:

* the **declared** roles of concept C3 (:mod:`lbsim.teach.layers`): an L4 NAT
  balancer reads L2–L4 and rewrites L3–L4, an L7 balancer reads up to L7 and ends
  L4, and so on;
* the **observed** changes, computed from the segment trace only: which L3/L4
  fields differ between the segment that came in and the one that went out, and
  whether the outgoing segment belongs to the same TCP connection (same initial
  sequence number for that direction) or to a new one. A NAT hop shows addresses
  and ports rewritten but sequence numbers untouched; a proxy or L7 hop shows a
  different 4-tuple *and* different sequence numbers.

Whether a balancer *read* L7 cannot be seen in headers, so the view takes it from
the declaration and backs it with timing evidence from the requests table: an L7
balancer records when the whole request reached it (``t_lb_last_byte``), before
anything left for the backend; an L4 balancer never reassembles the request.
"""

from __future__ import annotations

import math

import pandas as pd

from lbsim.teach.fields import (
    endpoint_pair_rows,
    endpoint_rows,
    field_values,
    forward_rows,
    l6_action,
    same_tcp,
    segment_headers,
    terminated_layers,
)
from lbsim.teach.follow import Leg, RequestPath, cold_connect, follow_request, opener_first
from lbsim.teach.hops import Hop, LayerView, SegmentHeaders, cell_text
from lbsim.teach.layers import ComponentLayers, balancer_kind, component_layers
from lbsim.teach.messages import tls_version
from lbsim.teach.trace import Trace

__all__ = ["layer_view"]


def _tls_of(path: RequestPath) -> tuple[str | None, dict[str, bool]]:
    """TLS version seen on the path, and per leg whether its message is TLS-protected."""
    per_leg = {leg.name: tls_version(leg.message) is not None for leg in path}
    version = next((tls_version(leg.message) for leg in path if per_leg[leg.name]), None)
    return version, per_leg


def _configured_tls(trace: Trace, client: str) -> str | None:
    for group in trace.scenario.clients:
        if group.name == client and group.tls is not None:
            return str(group.tls.version)
    return None


def _local_answer(record: pd.Series) -> str:
    if cell_text(record["cache_hit"]) == "True":
        return "answers from its cache"
    status = cell_text(record["status"])
    return f"answers the request itself (status {status or '–'})"


def layer_view(trace: Trace, request_id: str) -> LayerView:
    """The per-hop layer view of one request in a trace.

    Args:
        trace: A run traced with :func:`lbsim.teach.trace.trace_variant`.
        request_id: A request that finished while tracing (a ``request_id`` of
            ``trace.requests``).

    Returns:
        The view: hops in path order, each with field rows before and after.

    Raises:
        KeyError: If the request is not in the trace, or its first segment is not
            (a request refused before it was sent).
    """
    path = follow_request(trace, request_id)
    record = path.record
    up = path.get("client_to_lb")
    if up is None:
        raise KeyError(f"request {request_id} never reached the balancer in this trace")
    kind = balancer_kind(trace.balancer)
    observed, per_leg = _tls_of(path)
    version = observed or _configured_tls(trace, str(record["client"]))
    tls = version is not None
    client_kind = component_layers("client", tls=tls)
    lb_kind = component_layers(kind, tls=tls)
    backend_kind = component_layers("backend", tls=tls)
    legs = {name: segment_headers(trace, leg) for name, leg in path.legs.items()}
    c_in = legs["client_to_lb"]
    hops: list[Hop] = []
    client = trace.links[up.link].sender
    hops.append(
        Hop(
            1,
            client,
            "client",
            f"client {client} sends the request to the VIP",
            client_kind,
            None,
            c_in,
            (),
            (),
            endpoint_rows(field_values(trace, c_in), tls, "wrote", sending=True),
            f"sent on {c_in.link} at {_ms(c_in.sent)}, arrives at {_ms(c_in.arrival)}.",
        )
    )
    lb = trace.balancer.name
    to_backend = legs.get("lb_to_backend")
    back_out = legs.get("lb_to_client")
    # The balancer on the request path.
    out = to_backend or back_out
    if out is not None:
        same = same_tcp(c_in, out) if to_backend is not None else True
        if kind == "l7":
            l7_action = "parsed" if to_backend is not None else "parsed, answered"
        else:
            l7_action = "not read"
        l6_doing = l6_action(
            kind,
            per_leg.get("client_to_lb", False),
            bool(to_backend is not None and per_leg.get("lb_to_backend", False)),
            observed is not None,
        )
        if to_backend is not None:
            rows, rewrote = forward_rows(trace, c_in, out, lb_kind, tls, same, l7_action, l6_doing)
            terminated = terminated_layers(same, tls, per_leg, "client_to_lb", "lb_to_backend")
        else:
            rows = endpoint_pair_rows(trace, c_in, out, tls, l7_action)
            rewrote, terminated = set(), {4, 6} if per_leg.get("client_to_lb") else {4}
        title = (
            f"balancer {lb} passes the request on to {record['backend']}"
            if to_backend is not None
            else f"balancer {lb} {_local_answer(record)}: no backend sees the request"
        )
        hops.append(
            Hop(
                2,
                lb,
                "balancer",
                title,
                lb_kind,
                c_in,
                out,
                tuple(sorted(rewrote)),
                tuple(sorted(terminated)),
                rows,
                _request_note(trace, kind, record, c_in, out, path),
            )
        )
    from_backend = legs.get("backend_to_lb")
    if to_backend is not None:
        backend = trace.links[to_backend.link].receiver
        rows_b = endpoint_pair_rows(trace, to_backend, from_backend, tls, "read, answered")
        service = record["service_time"]
        hops.append(
            Hop(
                len(hops) + 1,
                backend,
                "backend",
                f"backend {backend} reads the request and answers",
                backend_kind,
                to_backend,
                from_backend,
                (),
                (),
                rows_b,
                f"request's first byte arrived at {_ms(to_backend.arrival)}; "
                f"service time {_ms(float(service))}"
                if cell_text(service)
                else "",
            )
        )
    if from_backend is not None and back_out is not None:
        middle = trace.links[back_out.link].sender
        role = trace.role(middle)
        same = same_tcp(from_backend, back_out)
        declared = lb_kind if role == "balancer" else _router_layers(tls)
        l7_action = "read (buffered)" if kind == "l7" and role == "balancer" else "not read"
        l6_doing = l6_action(
            kind if role == "balancer" else "l4-dsr",
            per_leg.get("backend_to_lb", False),
            per_leg.get("lb_to_client", False),
            observed is not None,
        )
        rows, rewrote = forward_rows(
            trace, from_backend, back_out, declared, tls, same, l7_action, l6_doing
        )
        terminated = terminated_layers(same, tls, per_leg, "backend_to_lb", "lb_to_client")
        hops.append(
            Hop(
                len(hops) + 1,
                middle,
                role,
                (
                    f"balancer {middle} passes the answer back to the client"
                    if role == "balancer"
                    else "the backends' router passes the answer to the client (direct "
                    "server return: the balancer never sees it)"
                ),
                declared,
                from_backend,
                back_out,
                tuple(sorted(rewrote)),
                tuple(sorted(terminated)),
                rows,
                _response_note(kind, role, from_backend, back_out),
            )
        )
    if back_out is not None:
        hops.append(
            Hop(
                len(hops) + 1,
                client,
                "client",
                f"client {client} reads the answer",
                client_kind,
                back_out,
                None,
                (),
                (),
                endpoint_rows(field_values(trace, back_out), tls, "read", sending=False),
                f"answer's first byte arrived at {_ms(back_out.arrival)}; "
                f"the request ended at {_ms(float(record['t_end']))}.",
            )
        )
    backend_leg = path.get("lb_to_backend")
    return LayerView(
        variant=trace.variant,
        layer=trace.layer,
        kind=kind,
        request_id=request_id,
        record=record,
        hops=tuple(hops),
        client_connection=up.connection,
        backend_connection=backend_leg.connection if backend_leg is not None else None,
        tls=version,
        tls_observed=observed is not None,
        handshake=_handshake(trace, up),
        endpoints={leg.connection: opener_first(trace, leg.connection) for leg in path},
    )


def _handshake(trace: Trace, up: Leg) -> tuple[str, ...]:
    """TLS handshake flights on the request's client connection, before the request."""
    flights = []
    for row in sorted(trace.marks):
        if row >= up.first:
            break
        if str(trace.cell(row, "connection")) != up.connection:
            continue
        sender = trace.role(trace.links[str(trace.cell(row, "link"))].sender)
        if sender != "client":
            # TLS ends where TCP ends: at an L7 balancer, else at the backend.
            sender = "balancer" if trace.layer == 7 else "backend (via the balancer)"
        for _, message in trace.marks[row]:
            if tls_version(message) is not None and getattr(message, "inner", None) is None:
                kind = getattr(message, "kind", "handshake")
                flights.append(f"{sender} {kind} {int(getattr(message, 'size', 0))} B")
    return tuple(flights)


def _router_layers(tls: bool) -> ComponentLayers:
    base = component_layers("l4-dsr", tls=tls)
    return ComponentLayers(
        "router",
        "router (the backends' gateway)",
        (2, 3),
        (2, 3),
        (),
        False,
        "it routes packets: a new frame with its own and the next hop's MAC addresses, "
        "the TTL one lower; with direct server return the answer bypasses the balancer. "
        + base.why,
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def _request_note(
    trace: Trace,
    kind: str,
    record: pd.Series,
    inbound: SegmentHeaders,
    outbound: SegmentHeaders,
    path: RequestPath,
) -> str:
    """Timing evidence of what the balancer read and held (C4, C6, C9, C16)."""
    first_out = outbound.sent
    up = path.get("client_to_lb")
    last_in = float(trace.cell(up.last, "arrival")) if up is not None else math.nan
    upstream = ""
    if kind in ("l7", "l4-proxy") and path.get("lb_to_backend") is not None:
        opened = cold_connect(trace, path)
        if opened is None:
            upstream = " Its connection to the backend was already open (a warm, pooled one)."
        else:
            upstream = (
                f" It opened its connection to the backend at {_ms(opened)}, for this "
                "client (a cold connect: one more backend round trip)."
            )
    if kind == "l7":
        complete = record["t_lb_last_byte"]
        if not cell_text(complete):
            return "The balancer parsed the request and answered it itself." + upstream
        return (
            f"The whole request ({int(record['request_bytes'])} B) had reached the balancer at "
            f"{_ms(float(complete))}; only then was it parsed and a backend chosen; its first "
            f"byte left for the backend at {_ms(first_out)} (buffering)." + upstream
        )
    if kind == "l4-proxy":
        return (
            f"The proxy relays the bytes without reading them: first byte in at "
            f"{_ms(inbound.arrival)}, out at {_ms(first_out)}." + upstream
        )
    if math.isnan(last_in):
        return ""
    if first_out < last_in:
        return (
            f"Cut-through: the first request byte left for the backend at {_ms(first_out)}, "
            f"before the last one had arrived ({_ms(last_in)}); the payload was never read."
        )
    return (
        f"Forwarded on arrival (first byte in at {_ms(inbound.arrival)}, out at "
        f"{_ms(first_out)}); the payload was never read."
    )


def _response_note(kind: str, role: str, inbound: SegmentHeaders, outbound: SegmentHeaders) -> str:
    if role == "router":
        return (
            "The balancer never sees the answer: the backend sends it with the VIP as source "
            "to its default gateway, a router, which puts it in a new frame (new MAC "
            "addresses) with the TTL one lower; addresses and ports stay as they are."
        )
    if kind == "l7":
        return (
            f"The answer arrived from the backend at {_ms(inbound.arrival)} and left on the "
            f"client's connection at {_ms(outbound.sent)}."
        )
    return f"Forwarded on arrival ({_ms(inbound.arrival)} in, {_ms(outbound.sent)} out)."
