"""Figure ``instance_load.png``: the load on each balancer instance of a topology.

Theory of operation: a scenario with a ``topology:`` runs each tier as several
balancer instances, and ``summary.json`` keeps per-instance values under
``variants.<v>.instances`` (:mod:`lbsim.results`). One row of panels per tier
(tiers are told apart by instance names ``<tier>-<i>``), two panels per row:
the work each instance received -- connections routed to it (``flows``) for the
first tier, requests it sent on (``requests``) for a proxy or layer-7 tier -- and
its CPU utilisation over the statistics window. Bars are grouped by instance,
one colour per variant; a dotted line marks an even split of the tier's work, so
how far ECMP or the tier in front is from uniform shows at a glance. A run
without a topology has one instance per variant, its balancer (``balancer-1``:
the requests of the statistics window and its CPU).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lbsim.plots.style import new_figure, styled, variant_colors

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "instance_load"]

FILENAME = "instance_load.png"


def _instances(results: Results, variant: str) -> dict[str, dict[str, float]]:
    """Per-instance values of ``variant``; a star's one balancer is one instance."""
    summary = results.summary["variants"][variant]
    if "instances" in summary:
        found: dict[str, dict[str, float]] = summary["instances"]
        return found
    lb = summary.get("lb") or {}
    return {
        "balancer-1": {
            "requests": summary.get("requests") or 0,
            "cpu_utilization": lb.get("cpu_utilization") or 0.0,
        }
    }


def _tiers(results: Results) -> dict[str, list[str]]:
    """Tier name -> its instances, in run order, over every variant."""
    tiers: dict[str, list[str]] = {}
    for variant in results.variants:
        for name in _instances(results, variant):
            tier = name.rsplit("-", 1)[0]
            if name not in tiers.setdefault(tier, []):
                tiers[tier].append(name)
    return tiers


def _work_key(results: Results, names: list[str]) -> tuple[str, str]:
    """Which value shows a tier's work, and its axis label."""
    for variant in results.variants:
        values = _instances(results, variant)
        if any("requests" in values.get(n, {}) for n in names):
            return "requests", "requests sent on"
    return "flows", "connections routed to it"


def _bars(ax: Axes, results: Results, names: list[str], key: str, scale: float) -> None:
    variants = results.variants
    colors = variant_colors(len(variants))
    width = 0.8 / max(len(variants), 1)
    x = np.arange(len(names))
    for k, v in enumerate(variants):
        values = _instances(results, v)
        heights: list[float] = [scale * float(values.get(n, {}).get(key) or 0.0) for n in names]
        ax.bar(
            x + (k - (len(variants) - 1) / 2) * width,
            heights,
            width,
            label=v,
            color=colors[k],
            edgecolor="0.2",
            linewidth=0.5,
        )
        if key != "cpu_utilization" and sum(heights) > 0:
            ax.axhline(sum(heights) / len(names), color=colors[k], linestyle=":", linewidth=1.2)
    ax.set_xticks(x, names)


def instance_load(results: Results) -> Figure:
    """Work and CPU of each instance, one row per tier (see the module docstring)."""
    tiers = _tiers(results)
    with styled():
        fig = new_figure(height=max(3.2, 2.8 * len(tiers)))
        if not tiers:
            ax = fig.add_subplot()
            ax.text(
                0.5,
                0.5,
                "no balancer instances: the scenario has no topology",
                ha="center",
                transform=ax.transAxes,
            )
            ax.set_axis_off()
            return fig
        axes = fig.subplots(len(tiers), 2, squeeze=False)
        for row, (tier, names) in enumerate(tiers.items()):
            key, label = _work_key(results, names)
            left, right = axes[row]
            _bars(left, results, names, key, 1.0)
            left.set_ylabel(f"{key} (count)")
            left.set_title(f"tier {tier}: {label} (dotted: even split)", fontsize=9)
            _bars(right, results, names, "cpu_utilization", 100.0)
            right.set_ylabel("CPU utilisation (%)")
            right.set_title(f"tier {tier}: CPU busy (statistics window)", fontsize=9)
        axes[0][0].legend(title="variant", fontsize=8)
        fig.suptitle(f"{results.scenario}: load per balancer instance", fontsize=11)
    return fig
