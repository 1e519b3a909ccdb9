"""Figure ``broken_connections.png``: what the failure of a balancer instance broke.

Theory of operation: a ``fail_instance`` event in a scenario with a ``topology:``
leaves, per failed instance, ``connections_at_failure`` (client connections it
held), ``broken_connections`` (those that then ended in RST at the client) and
requests in progress then that the clients retried or lost, in
``summary.json`` under ``variants.<v>.instances.<name>``
(:mod:`lbsim.run.instance_faults`).

Left panel: the share of each failed instance's connections that broke, bars
grouped by instance, one colour per variant. For an instance of a first tier
reached by ECMP whose balancer forwards packets (layer 4, ``nat`` or ``dsr``), a
black mark gives the share theory expects
(:func:`lbsim.theory.moved_connection_break_fraction`): 0 for a consistent hash,
``1 - 1/P`` for round robin over ``P`` candidates; where no closed form applies
there is no mark. Right panel: the requests the clients had in progress on those
connections at the failure, split into those that still completed, those the
clients retried to success and those that failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lbsim.plots.style import FIGSIZE, new_figure, styled, variant_colors
from lbsim.theory import moved_connection_break_fraction

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "broken_connections", "expected_break_fraction"]

FILENAME = "broken_connections.png"


def _failed(results: Results) -> list[str]:
    """Instances that failed in any variant, in run order."""
    names: list[str] = []
    for variant in results.variants:
        for name, values in results.summary["variants"][variant].get("instances", {}).items():
            if "connections_at_failure" in values and name not in names:
                names.append(name)
    return names


def expected_break_fraction(results: Results, variant: str, instance: str) -> float | None:
    """The share of ``instance``'s connections theory expects to break, or None.

    Defined for an instance of the first tier reached by ECMP that forwards
    packets; the candidates are the next tier's instances, or the variant's
    backends for a last tier.
    """
    topo = results.topology
    if topo is None or topo.reach != "ecmp":
        return None
    tier_name = instance.rsplit("-", 1)[0]
    if topo.tiers[0].name != tier_name:
        return None
    cfg: dict[str, Any]
    tier = topo.tiers[0]
    if tier.balancer == "variant":
        summary = results.summary["variants"][variant]
        cfg = {"layer": summary.get("layer"), "algorithm": summary.get("algorithm")}
        cfg["mode"] = results.modes.get(variant)
    else:
        cfg = dict(tier.balancer)
    if cfg.get("layer") != 4 or cfg.get("mode", "nat") not in ("nat", "dsr"):
        return None
    if len(topo.tiers) > 1:
        candidates = topo.tiers[1].instances
    else:
        candidates = len(results.backends.get(variant, ()))
    return moved_connection_break_fraction(str(cfg.get("algorithm")), max(candidates, 1))


def _value(results: Results, variant: str, name: str, key: str) -> float:
    instances = results.summary["variants"][variant].get("instances", {})
    return float(instances.get(name, {}).get(key) or 0.0)


def _broken(ax: Axes, results: Results, names: list[str]) -> None:
    variants = results.variants
    colors = variant_colors(len(variants))
    width = 0.8 / max(len(variants), 1)
    marked = False
    for k, v in enumerate(variants):
        offset = (k - (len(variants) - 1) / 2) * width
        for i, name in enumerate(names):
            held = _value(results, v, name, "connections_at_failure")
            share = _value(results, v, name, "broken_connections") / held if held else 0.0
            ax.bar(
                i + offset,
                100 * share,
                width,
                color=colors[k],
                edgecolor="0.2",
                linewidth=0.5,
                label=v if i == 0 else None,
            )
            ax.annotate(
                f"{share:.0%}\nof {held:.0f}",
                (i + offset, 100 * share),
                ha="center",
                va="bottom",
                fontsize=7,
            )
            theory = expected_break_fraction(results, v, name)
            if theory is not None:
                ax.hlines(
                    100 * theory,
                    i + offset - width / 2,
                    i + offset + width / 2,
                    color="black",
                    linewidth=2.2,
                    label="_theory" if marked else "theory (moved flows re-picked)",
                )
                ax.plot(i + offset, 100 * theory, marker="D", color="black", markersize=4)
                marked = True
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylim(0, 150)
    ax.set_xlabel("failed instance")
    ax.set_ylabel("connections held that broke (%)")
    ax.set_title("connections held at the failure that ended in RST", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", ncols=2)


def _requests(ax: Axes, results: Results, names: list[str]) -> None:
    parts = (
        ("completed", "#4c9f70"),
        ("retried", "#e0a030"),
        ("failed", "#c0392b"),
    )
    labels: list[tuple[float, str]] = []
    for i, name in enumerate(names):
        for v in results.variants:
            total = _value(results, v, name, "requests_in_flight_at_failure")
            retried = _value(results, v, name, "retried_requests")
            failed = _value(results, v, name, "lost_requests")
            heights = (total - retried - failed, retried, failed)
            y = len(labels) + i * 0.6  # a gap between failed instances
            left = 0.0
            for (label, color), h in zip(parts, heights, strict=True):
                ax.barh(
                    y, h, 0.8, left=left, color=color, edgecolor="0.2", linewidth=0.5,
                    label=label if not labels else None,
                )  # fmt: skip
                left += h
            labels.append((y, f"{name}, {v}"))
    ax.set_yticks([y for y, _ in labels], [text for _, text in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("requests in progress at the failure (count)")
    ax.set_xlim(0, max(ax.get_xlim()[1], 1.0) * 1.05)
    ax.set_title("requests in progress on them", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")


def _nothing_failed(left: Axes, right: Axes, results: Results) -> None:
    """Labelled, empty panels that say why they are empty (variants in the legend)."""
    from matplotlib.patches import Patch

    colors = variant_colors(len(results.variants))
    for ax in (left, right):
        ax.text(
            0.5,
            0.5,
            "no fail_instance event\nin a topology",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_xticks([])
    left.set_xlabel("failed instance")
    left.set_ylabel("connections held that broke (%)")
    right.set_xlabel("requests in progress at the failure (count)")
    handles = [Patch(color=c, label=v) for c, v in zip(colors, results.variants, strict=True)]
    left.legend(handles=handles, fontsize=8, title="variant")


def broken_connections(results: Results) -> Figure:
    """Broken connections and in-flight requests per failed instance (see the module docstring)."""
    names = _failed(results)
    with styled():
        fig = new_figure(width=FIGSIZE[0] * 1.3)
        left, right = fig.subplots(1, 2, width_ratios=[5, 4])
        if not names:
            _nothing_failed(left, right, results)
            fig.suptitle(f"{results.scenario}: no balancer instance failed", fontsize=11)
            return fig
        _broken(left, results, names)
        _requests(right, results, names)
        fig.suptitle(f"{results.scenario}: what failed balancer instances broke", fontsize=11)
    return fig
