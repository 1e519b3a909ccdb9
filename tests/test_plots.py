"""Figures drawn from Results (lbsim.plots)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image
import pytest
from matplotlib.figure import Figure

from lbsim import metrics, plots
from lbsim.plots import style
from lbsim.plots.share_over_time import nice_bin_seconds
from lbsim.records import Recorder, RequestRecord
from lbsim.results import Results, build_results
from lbsim.sim import VariantRun

BACKENDS = ("web-1", "web-2")


def sticky_results(*, with_ok: bool = True) -> Results:
    """The stickiness case of docs/validation.md: one busy and one idle long-lived connection.

    Through L4 each connection stays on the backend it was placed on; through L7
    every request is placed on its own (round robin).
    """
    scenario = SimpleNamespace(name="sticky", seed=1, duration=20.0, warmup=2.0)
    runs = []
    for name, layer in (("l4", 4), ("l7", 7)):
        recorder = Recorder(name)
        arrivals = [(0.1 * i, "busy") for i in range(200)] + [(7.0, "idle"), (15.0, "idle")]
        for i, (t, user) in enumerate(sorted(arrivals)):
            backend = ("web-1" if user == "busy" else "web-2") if layer == 4 else BACKENDS[i % 2]
            recorder.requests.append(
                RequestRecord(
                    variant=name,
                    request_id=f"{user}-{i:04d}",
                    client=user,
                    connection=f"{user}-conn",
                    backend=backend,
                    method="GET",
                    path="/",
                    status=200,
                    outcome="ok" if with_ok else "error",
                    t_start=t,
                    t_end=t + 0.01 + 0.0001 * (i % 50) * (2 if layer == 4 else 1),
                    request_bytes=400,
                    response_bytes=20_000,
                )
            )
        runs.append(VariantRun(name, layer, "round_robin", recorder, BACKENDS, 0.1, 21.0))
    return build_results(scenario, runs)


def legends(figure: Figure) -> list[str]:
    texts = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    return texts


@pytest.mark.parametrize("draw", list(plots.FIGURES.values()), ids=list(plots.FIGURES))
def test_figures_are_labelled(draw: plots.FigureFunction) -> None:
    figure = draw(sticky_results())
    assert isinstance(figure, Figure)
    assert figure.axes
    for ax in figure.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_title() or ax.get_title(loc="left")
    assert legends(figure)


def test_latency_cdf_axes_and_legend() -> None:
    figure = plots.latency_cdf(sticky_results())
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    assert "ms" in ax.get_xlabel()
    assert ax.get_ylabel() == "fraction of requests"
    labels = legends(figure)
    assert any(text.startswith("l4 ") for text in labels)
    assert any(text.startswith("l7 ") for text in labels)


def test_latency_cdf_without_successful_requests() -> None:
    labels = legends(plots.latency_cdf(sticky_results(with_ok=False)))
    assert any("no successful requests" in text for text in labels)


def test_share_over_time_one_panel_per_variant() -> None:
    figure = plots.share_over_time(sticky_results())
    assert len(figure.axes) == 2
    titles = [ax.get_title(loc="left") for ax in figure.axes]
    assert titles[0].startswith("l4 ") and "stickiness 1.00" in titles[0]
    assert titles[1].startswith("l7 ") and "stickiness 0.0" in titles[1]
    assert all(ax.get_xlabel() == "simulated time (s)" for ax in figure.axes)
    assert all(ax.get_ylabel() == "share of requests" for ax in figure.axes)
    assert {"web-1", "web-2"} <= set(legends(figure))


def test_sticky_workload_panels_differ() -> None:
    """The data each panel stacks: L4 lopsided (busy connection pinned), L7 even."""
    res = sticky_results()
    bins = nice_bin_seconds(res.duration)
    for variant, expected in (("l4", 1.0), ("l7", 0.5)):
        rows = res.requests[res.requests["variant"] == variant]
        shares = metrics.backend_share_over_time(rows, BACKENDS, bins, end=res.duration)
        assert shares["web-1"].iloc[:10].tolist() == pytest.approx([expected] * 10, abs=0.1)


def test_backend_requests_shows_fairness() -> None:
    res = sticky_results()
    figure = plots.backend_requests(res)
    labels = legends(figure)
    jain_l4 = res.summary["variants"]["l4"]["jain_fairness"]
    assert any(f"Jain {jain_l4:.3f}" in text for text in labels)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(BACKENDS)
    assert len(ax.patches) == 4  # 2 backends x 2 variants


def test_write_figures_writes_readable_pngs(tmp_path: Path) -> None:
    written = plots.write_figures(sticky_results(), tmp_path / "figures")
    assert [p.name for p in written] == list(plots.FIGURES)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width = matplotlib.image.imread(path).shape[:2]
        # FIGSIZE inches at >= 150 dpi
        assert width >= style.FIGSIZE[0] * 150 and height >= style.FIGSIZE[1] * 150


def test_save_figure_creates_parents(tmp_path: Path) -> None:
    target = style.save_figure(plots.backend_requests(sticky_results()), tmp_path / "a" / "b.png")
    assert target.is_file()


def test_palette_is_okabe_ito_and_stable() -> None:
    assert style.variant_colors(2) == [style.OKABE_ITO["blue"], style.OKABE_ITO["vermillion"]]
    assert set(style.backend_colors(7)) <= set(style.OKABE_ITO.values())
    assert len(set(style.backend_colors(8))) == 8
    assert len(set(style.backend_colors(12))) == 12
    assert style.DPI >= 150


@pytest.mark.parametrize(
    ("duration", "expected"), [(60.0, 1.0), (61.0, 2.0), (10.0, 0.2), (600.0, 10.0), (0.0, 1.0)]
)
def test_nice_bin_seconds(duration: float, expected: float) -> None:
    assert nice_bin_seconds(duration) == pytest.approx(expected)


def test_line_styles_differ_between_variants() -> None:
    looks = style.line_styles(5)
    assert len({str(ls) for ls, _ in looks}) == 5
    assert len({marker for _, marker in looks}) == 5


@pytest.mark.parametrize(
    ("low", "high"), [(68.0, 136.0), (2110.0, 2280.0), (21.0, 1100.0), (0.05, 900.0)]
)
def test_log_axis_labels_both_ends(low: float, high: float) -> None:
    with style.styled():
        figure = style.new_figure()
        ax = figure.add_subplot()
        ax.plot([low, high], [0, 1])
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        style.label_log_axis(ax.xaxis)
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert len(ticks) >= 3
    # The lowest and highest labels sit within a factor 1.2 of the axis ends.
    assert ticks[0] <= low * 1.2 and ticks[-1] >= high / 1.2
    labels = [ax.xaxis.get_major_formatter()(t, i) for i, t in enumerate(ticks)]
    assert all(label and "e" not in label for label in labels)


def test_latency_cdf_coinciding_curves_stay_distinct() -> None:
    """Two variants with identical latencies: different line styles and markers."""
    res = sticky_results()
    same = res.requests.copy()
    same.loc[same["variant"] == "l7", "latency"] = same.loc[
        same["variant"] == "l4", "latency"
    ].values
    figure = plots.latency_cdf(dataclasses.replace(res, requests=same))
    lines = [line for line in figure.axes[0].get_lines() if line.get_label().startswith("l")]
    assert len(lines) == 2
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    assert lines[0].get_marker() != lines[1].get_marker()
