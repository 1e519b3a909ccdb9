"""Header fields of traced segments, and the field rows of one hop.

Theory of operation: :func:`segment_headers` reads the segment that carries the first
byte of a message on one link (its row in the trace) into a
:class:`~lbsim.teach.hops.SegmentHeaders`: addresses, ports, absolute and relative
sequence numbers, flags, sizes, and what the message shows at L7 and L6.
:func:`field_values` turns those into display values keyed by (layer, field name),
with addresses named by their role in the run's address plan (VIP, the balancer's
inside address, a backend by name). The ``*_rows`` functions compare the values
before and after a component and say what it did to each field:

* an endpoint (the client) ``wrote`` or ``read`` every field;
* a forwarder ``kept`` or ``rewrote`` L3/L4 fields while the TCP connection is the
  same (same initial sequence number of the sender on both links), or sent them on a
  ``new connection`` when it is a TCP endpoint itself;
* a component that answers (a backend, or an L7 balancer answering from its cache or
  with a refusal) read the request and wrote the answer.
"""

from __future__ import annotations

from lbsim.capture.limits import host_addresses
from lbsim.capture.pcap import mac_for
from lbsim.net.addresses import LB_INSIDE, VIP, backend_address, ip_to_str
from lbsim.net.link import wire_bytes
from lbsim.net.segment import SEQ_MASK
from lbsim.scenario.units import format_bandwidth, format_duration
from lbsim.teach.follow import Leg, initial_sequence
from lbsim.teach.hops import FieldRow, SegmentHeaders
from lbsim.teach.layers import ComponentLayers
from lbsim.teach.messages import describe
from lbsim.teach.trace import Trace

__all__ = [
    "endpoint_pair_rows",
    "endpoint_rows",
    "field_values",
    "forward_rows",
    "l6_action",
    "same_tcp",
    "segment_headers",
    "terminated_layers",
    "visible_layers",
]


def segment_headers(trace: Trace, leg: Leg) -> SegmentHeaders:
    """Headers of the leg's first segment (the one with the message's first byte)."""
    seg = trace.segments
    row = leg.first
    s = seg.iloc[row]
    src, dst, sport, dport = str(s["src"]), str(s["dst"]), int(s["sport"]), int(s["dport"])
    connection = str(s["connection"])
    sent = float(s["time"])
    isn = initial_sequence(trace, src, sport, connection, before=sent)
    peer = initial_sequence(trace, dst, dport, connection, before=sent)
    seq, ack = int(s["seq"]), int(s["ack"])
    return SegmentHeaders(
        row=row,
        link=str(s["link"]),
        sent=sent,
        arrival=float(s["arrival"]),
        src=src,
        dst=dst,
        sport=sport,
        dport=dport,
        seq=seq,
        ack=ack,
        rel_seq=None if isn is None else (seq - isn) & SEQ_MASK,
        rel_ack=None if peer is None or "ACK" not in str(s["flags"]) else (ack - peer) & SEQ_MASK,
        isn=isn,
        flags=str(s["flags"]),
        payload=int(s["payload"]),
        ip_length=int(s["ip_length"]),
        connection=connection,
        message=describe(leg.message),
    )


def _address_name(trace: Trace, address: str) -> str:
    """An address with the role it plays in the run, e.g. ``203.0.113.10 (VIP)``."""
    if address == ip_to_str(VIP):
        return f"{address} (VIP)"
    if address == ip_to_str(LB_INSIDE):
        return f"{address} (balancer, inside)"
    for index, group in enumerate(trace.scenario.backends):
        for instance in range(1, group.count + 1):
            if address == ip_to_str(backend_address(index, instance)):
                return f"{address} ({group.group}-{instance})"
    if any(
        address.startswith(f"{ip_to_str(backend_address(i, 1)).rsplit('.', 1)[0]}.")
        for i in range(len(trace.scenario.backends))
    ):
        return f"{address} (backend)"  # one added while the run went on
    return f"{address} (client)"


def _seq_text(value: int, relative: int | None) -> str:
    return f"{value}" + ("" if relative is None else f" (rel. {relative})")


def field_values(trace: Trace, h: SegmentHeaders) -> dict[tuple[int, str], str]:
    """Field values of one segment, keyed by (layer, field), highest layer first."""
    info = trace.links[h.link]
    values: dict[tuple[int, str], str] = {}
    msg = h.message
    line_name = "request line" if msg.headers or " HTTP/" in msg.l7[-9:] else "status line"
    if msg.l7.startswith("HTTP/"):
        line_name = "status line"
    elif msg.l7.startswith("raw") or msg.l7.startswith("(none"):
        line_name = "message"
    values[(7, line_name)] = msg.l7
    if msg.headers:
        values[(7, "header fields")] = ", ".join(msg.headers)
    values[(6, "TLS")] = msg.l6 or "none: plain TCP"
    values[(4, "ports")] = f"{h.sport} -> {h.dport}"
    values[(4, "seq")] = _seq_text(h.seq, h.rel_seq)
    values[(4, "ack")] = (
        "" if h.rel_ack is None and "ACK" not in h.flags else _seq_text(h.ack, h.rel_ack)
    )
    values[(4, "flags, length")] = f"{h.flags or '-'}, {h.payload} B"
    values[(3, "source")] = _address_name(trace, h.src)
    values[(3, "destination")] = _address_name(trace, h.dst)
    src_mac, dst_mac, ttl = frame_header(trace, h.link)
    values[(3, "TTL")] = str(ttl)
    values[(2, "source MAC")] = src_mac
    values[(2, "destination MAC")] = dst_mac
    values[(2, "frame on link")] = h.link
    values[(1, "wire")] = (
        f"{wire_bytes(h.ip_length)} B at {format_bandwidth(info.bandwidth)}, "
        f"+{format_duration(info.latency)}"
    )
    return values


def frame_header(trace: Trace, link: str) -> tuple[str, str, int]:
    """Source MAC, destination MAC and TTL of the frames on a link.

    The same rule as the packet capture (:mod:`lbsim.capture.capture`): each host's
    MAC comes from its address; the device in the middle (balancer or router) uses
    the VIP's on the client side and the inside address's on the backend side; a
    packet leaving its sender has TTL 64, one that an L4 NAT or DSR balancer or the
    DSR router forwarded (routed) has 63.
    """
    info = trace.links[link]
    hosts = host_addresses(trace.scenario)
    middle = VIP if info.side == "client" else LB_INSIDE

    def mac(node: str) -> str:
        raw = mac_for(hosts.get(node, middle))
        return ":".join(f"{b:02x}" for b in raw)

    routed = info.sender not in hosts and trace.mode in ("nat", "dsr")
    return mac(info.sender), mac(info.receiver), 63 if routed else 64


def visible_layers(tls: bool) -> tuple[int, ...]:
    """OSI layers the field table shows: 7, 6 (only with TLS), 4, 3, 2, 1."""
    return (7, 6, 4, 3, 2, 1) if tls else (7, 4, 3, 2, 1)


def endpoint_rows(
    values: dict[tuple[int, str], str], tls: bool, action: str, sending: bool
) -> tuple[FieldRow, ...]:
    """Field rows for a client or backend: each value in the sent or the received column."""
    rows = []
    for (layer, name), value in values.items():
        if layer not in visible_layers(tls):
            continue
        rows.append(
            FieldRow(layer, name, action, "" if sending else value, value if sending else "")
        )
    return tuple(rows)


def same_tcp(a: SegmentHeaders, b: SegmentHeaders) -> bool:
    """Whether two segments in the same direction belong to one TCP connection.

    The outgoing segment continues the incoming one's byte stream when the sender's
    ISN is the same on both links (what NAT and DSR do). A proxy's own connection
    has an ISN of its own. Without the SYNs in the trace, compare the client-side
    port, which a NAT keeps and a proxy replaces with one of its own.
    """
    if a.isn is not None and b.isn is not None:
        return a.isn == b.isn and a.seq == b.seq
    return a.seq == b.seq and (a.sport == b.sport or a.dport == b.dport)


def forward_rows(
    trace: Trace,
    inbound: SegmentHeaders,
    outbound: SegmentHeaders,
    declared: ComponentLayers,
    tls: bool,
    same_tcp: bool,
    l7_action: str,
    l6_action: str,
) -> tuple[tuple[FieldRow, ...], set[int]]:
    """Rows of a forwarding hop, and the layers whose fields it rewrote."""
    before, after = field_values(trace, inbound), field_values(trace, outbound)
    rows: list[FieldRow] = []
    rewrote: set[int] = set()
    for key in dict.fromkeys([*before, *after]):
        layer, name = key
        if layer not in visible_layers(tls):
            continue
        b, a = before.get(key, ""), after.get(key, "")
        if layer == 7:
            action = l7_action
        elif layer == 6:
            action = l6_action
        elif layer in (3, 4):
            if not same_tcp:
                action = "new connection"
            elif name == "TTL":
                # Routing lowers the TTL; it is not an address rewrite.
                action = "kept" if b == a else "decremented (routed)"
            elif b == a:
                action = "kept"
            else:
                action = "rewrote"
                rewrote.add(layer)
        elif layer == 2:
            action = "new frame" if name == "frame on link" or b != a else "kept"
        else:
            action = "received, sent"
        rows.append(FieldRow(layer, name, action, b, a))
    return tuple(rows), rewrote


def endpoint_pair_rows(
    trace: Trace,
    inbound: SegmentHeaders,
    outbound: SegmentHeaders | None,
    tls: bool,
    l7_action: str,
) -> tuple[FieldRow, ...]:
    """Rows of a component that answers: the request as it arrived, its answer as it left.

    Used for the backend, and for an L7 balancer that answers a request itself
    (from its cache, or with a refusal), where the outgoing segment is a reply on
    the same connection rather than the request passed on.
    """
    before = field_values(trace, inbound)
    after = field_values(trace, outbound) if outbound is not None else {}
    rows = [
        FieldRow(
            7,
            "message",
            l7_action,
            inbound.message.l7,
            outbound.message.l7 if outbound is not None else "",
        ),
    ]
    if inbound.message.headers:
        rows.append(FieldRow(7, "header fields", "read", before[(7, "header fields")], ""))
    encrypted = inbound.message.l6 is not None
    actions = {
        6: "decrypted, encrypted" if encrypted else "none (plain TCP on this side)",
        4: "endpoint",
        3: "endpoint",
        2: "endpoint",
        1: "received, sent",
    }
    for key in dict.fromkeys([*before, *after]):
        layer, name = key
        if layer == 7 or layer not in visible_layers(tls):
            continue
        rows.append(FieldRow(layer, name, actions[layer], before.get(key, ""), after.get(key, "")))
    return tuple(rows)


def l6_action(kind: str, tls_in: bool, tls_out: bool, observed: bool) -> str:
    """What a device does at layer 6 (TLS), in words, for the field table."""
    if not observed:
        return "(no TLS in the trace)"
    if kind == "l7":
        if tls_in and tls_out:
            return "decrypted, re-encrypted"
        if tls_in:
            return "decrypted (TLS ends here)"
        if tls_out:
            return "encrypted (TLS starts here)"
        return "none"
    return "not read (passed through encrypted)" if tls_in else "none"


def terminated_layers(
    same_tcp: bool, tls: bool, per_leg: dict[str, bool], leg_in: str, leg_out: str
) -> set[int]:
    """Layers the trace shows ending at a forwarding hop."""
    ended: set[int] = set() if same_tcp else {4}
    if tls and not same_tcp and (per_leg.get(leg_in, False) or per_leg.get(leg_out, False)):
        ended.add(6)  # a TLS session cannot outlive the TCP connection it runs on
    return ended
