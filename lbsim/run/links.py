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
from lbsim.records import Recorder, SegmentRecord
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
    """A tap writing one :class:`~lbsim.records.SegmentRecord` per segment."""
    variant = recorder.variant
    segments = recorder.segments

    def trace(link: Link, seg: Segment, t: float, dropped: bool) -> None:
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        lo, hi = (a, b) if a <= b else (b, a)
        segments.append(
            SegmentRecord(
                variant=variant,
                time=t,
                link=link.name,
                side=link.side,
                src=ip_to_str(seg.src),
                dst=ip_to_str(seg.dst),
                sport=seg.sport,
                dport=seg.dport,
                seq=seg.seq,
                ack=seg.ack,
                flags=flag_names(seg.flags),
                window=seg.window,
                payload=seg.length,
                dropped=dropped,
                connection=f"{endpoint_str(*lo)}-{endpoint_str(*hi)}",
            )
        )

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
