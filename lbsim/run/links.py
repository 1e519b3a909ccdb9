"""Links of a run and the observers that watch every segment on them.

Theory of operation: every host of a run has its own pair of one-way links to the
balancer (or, for replies under direct server return, from the router that is
the backends' gateway). A link is made from the scenario's link settings; a
lossy one gets its own loss stream, keyed by the link's name, so loss hits the
same segments in every variant. Taps see every segment offered to every link:
the segment tracer (``segments.csv``) and whatever else the caller passes (a
packet capture). Several taps are folded into one function so a link calls one
tracer per segment.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from lbsim.net.addresses import endpoint_str, ip_to_str
from lbsim.net.link import Link
from lbsim.net.segment import Segment, flag_names
from lbsim.records import Recorder, new_segment_record
from lbsim.scenario.schema import LinkConfig
from lbsim.streams import stream

#: A tap sees every segment offered to every link: (link, segment, time, dropped).
#: ``time`` is when the segment starts onto the wire (or was refused, if dropped).
Tap = Callable[[Link, Segment, float, bool], None]


def make_link(
    env: simpy.Environment, name: str, side: str, cfg: LinkConfig, tracer: Tap | None, seed: int
) -> Link:
    """A one-way link named ``name`` on ``side`` (``client``/``backend``) as ``cfg`` says."""
    link = Link(
        env,
        name,
        side,
        latency=cfg.latency,
        bandwidth=cfg.bandwidth,
        mtu=cfg.mtu,
        queue_bytes=cfg.queue,
        tracer=tracer,
    )
    if cfg.loss:
        link.set_loss(cfg.loss, stream(seed, "loss", name))
    return link


def segment_tracer(recorder: Recorder) -> Tap:
    """A tap writing one :class:`~lbsim.records.SegmentRecord` per segment.

    It runs for every segment of a traced run (``--trace-segments``, ``lbsim
    trace``, ``lbsim view``), so the text it writes is formatted once and looked
    up after that: an address once per address, the flags once per combination,
    a connection's name once per direction. Formatting every time, and building
    the record through the frozen dataclass's ``__init__``, had doubled the cost
    of a segment.
    """
    variant = recorder.variant
    append = recorder.segments.append
    ips: dict[int, str] = {}
    flag_text: dict[int, str] = {}
    connections: dict[tuple[int, int, int, int], str] = {}

    def trace(link: Link, seg: Segment, t: float, dropped: bool) -> None:
        src, dst, sport, dport = seg[0], seg[1], seg[2], seg[3]
        key = (src, sport, dst, dport)
        connection = connections.get(key)
        if connection is None:
            a, b = (src, sport), (dst, dport)
            lo, hi = (a, b) if a <= b else (b, a)
            connection = connections[key] = f"{endpoint_str(*lo)}-{endpoint_str(*hi)}"
        src_text = ips.get(src)
        if src_text is None:
            src_text = ips[src] = ip_to_str(src)
        dst_text = ips.get(dst)
        if dst_text is None:
            dst_text = ips[dst] = ip_to_str(dst)
        flags = seg[6]
        names = flag_text.get(flags)
        if names is None:
            names = flag_text[flags] = flag_names(flags)
        record = new_segment_record(
            variant, t, link.name, link.side, src_text, dst_text, sport, dport,
            seg[4], seg[5], names, seg[7], seg[8], dropped, connection,
        )  # fmt: skip
        append(record)

    return trace


def combine(taps: list[Tap]) -> Tap | None:
    """One tap calling every tap of ``taps`` in order (None if there are none)."""
    if not taps:
        return None
    if len(taps) == 1:
        return taps[0]

    def tap_all(link: Link, seg: Segment, t: float, dropped: bool) -> None:
        for tap in taps:
            tap(link, seg, t, dropped)

    return tap_all
