"""What the command line shows while it works: progress displays and result tables.

Theory of operation: :class:`ProgressReporter` is the engine's progress callback for
``lbsim run`` (one bar per balancer variant, or one line per variant when stderr is
not a terminal); :class:`CountProgress` counts finished units of work (the runs of a
sweep, the data of the report figures) with an estimated time left; and
:func:`comparison_tables` lays out ``summary.json`` as the rich table ``lbsim run``
prints, split in two when the terminal is narrow. Names and values from a scenario
are shown through :func:`lbsim.cli.output.printable`, so control characters in them
cannot reach the terminal. Only :mod:`lbsim.cli` uses this module; rich is imported
inside the functions, so ``lbsim --help`` stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lbsim.cli.output import printable

if TYPE_CHECKING:
    from lbsim.scenario import Scenario

__all__ = ["CountProgress", "ProgressReporter", "clock", "comparison_tables"]


class ProgressReporter:
    """Shows which variant is running, as a rich progress bar on stderr.

    Used as the engine's ``progress(variant, fraction)`` callback, ``fraction``
    going from 0 to 1 as the variant's simulated time advances. When stderr is not a
    terminal it writes one line per variant instead of redrawing a bar.
    """

    def __init__(self, scenario: Scenario) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._console = Console(stderr=True, highlight=False)
        self._live = self._console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._scenario_name = printable(scenario.name)

    def __enter__(self) -> Callable[[str, float], None]:
        if self._live:
            self._progress.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if self._live:
            self._progress.stop()
        elif kind is None:  # an interrupted variant is not "done"
            self._finish_previous(None)

    def _finish_previous(self, current: str | None) -> None:
        """In line mode, report the variants other than ``current`` as finished."""
        for name, started in list(self._started.items()):
            if name != current:
                elapsed = time.perf_counter() - started
                self._console.print(f"  variant {name} done ({elapsed:.1f} s)", markup=False)
                del self._started[name]

    def __call__(self, variant: str, fraction: float) -> None:
        """Show that ``variant`` has done ``fraction`` (0 to 1) of its simulated time."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        if variant not in self._tasks:
            description = f"{self._scenario_name}: variant {variant}"
            self._tasks[variant] = self._progress.add_task(description, total=1.0)
            if not self._live:
                self._finish_previous(variant)
                self._started[variant] = time.perf_counter()
                self._console.print(f"running {description}", markup=False)
        self._progress.update(self._tasks[variant], completed=fraction)


def _fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    """Format a summary number; an en dash for missing values."""
    if value is None:
        return "–"
    return format(value * scale if scale != 1.0 else value, spec)


def _ms(seconds: float | None) -> str:
    """Seconds as milliseconds with three significant digits or more."""
    if seconds is None:
        return "–"
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("requests", lambda v: _fmt(v["requests"], "d")),
    ("ok", lambda v: _fmt(v["completed"], "d")),
    ("failed", lambda v: _fmt(v["failed"], "d")),
    ("offered\nreq/s", lambda v: _fmt(v.get("offered_rps"), ".1f")),
    ("done\nreq/s", lambda v: _fmt(v["throughput_rps"], ".1f")),
    ("mean\nms", lambda v: _ms(v["latency"]["mean"])),
    ("p50\nms", lambda v: _ms(v["latency"]["p50"])),
    ("p95\nms", lambda v: _ms(v["latency"]["p95"])),
    ("p99\nms", lambda v: _ms(v["latency"]["p99"])),
    ("sticky", lambda v: _fmt(v["stickiness"], ".2f")),
    ("Jain", lambda v: _fmt(v["jain_fairness"], ".3f")),
    ("client\nsegs", lambda v: _fmt(v["segments"]["client_side"], "d")),
    ("backend\nsegs", lambda v: _fmt(v["segments"]["backend_side"], "d")),
    ("LB\nCPU %", lambda v: _fmt(v["lb"]["cpu_utilization"], ".1f", 100.0)),
    ("peak\ntable", lambda v: _fmt(v["lb"]["peak_table_entries"], "d")),
    ("peak\nbuffer B", lambda v: _fmt(v["lb"]["peak_buffer_bytes"], "d")),
)


#: Where the table splits in two when the terminal is too narrow for all columns.
_SPLIT = 9  # requests ... p99 | stickiness ... peak buffer


def comparison_tables(summary: dict[str, Any], width: int) -> list[Any]:
    """A heading and rich tables with one row per variant, from ``summary.json`` content.

    One table when it fits in ``width`` columns; otherwise two (requests and
    latency, then balancing and cost), both still with one row per variant.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    window = summary["duration"] - summary["warmup"]
    title = (
        f"{printable(summary['scenario'])} (seed {summary['seed']}): statistics over "
        f"{summary['warmup']:g}–{summary['duration']:g} s of simulated time ({window:g} s)"
    )

    def table(
        columns: Sequence[tuple[str, Callable[[dict[str, Any]], str]]], head: str | None
    ) -> Any:
        result = Table(title=head, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        result.add_column("variant", no_wrap=True)
        for header, _ in columns:
            result.add_column(header, justify="right", no_wrap=True)
        for name, variant in summary["variants"].items():
            label = Text.assemble(
                name, "\n", (f"L{variant['layer']} {variant['algorithm']}", "dim")
            )
            result.add_row(label, *(cell(variant) for _, cell in columns))
        return result

    heading = Text(title, style="bold")
    whole = table(_COLUMNS, None)
    if Console(width=10_000).measure(whole).maximum <= width:
        return [heading, whole]
    return [
        heading,
        table(_COLUMNS[:_SPLIT], "requests and latency"),
        table(_COLUMNS[_SPLIT:], "balancing and cost"),
    ]


class CountProgress:
    """Progress of countable work (runs) on stderr, with an ETA.

    A rich progress bar on a terminal; otherwise one line per finished unit with
    the estimated time left, so logs show how far a long sweep got.
    """

    def __init__(self, description: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._console = Console(stderr=True, highlight=False)
        self._live = self._console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs, elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self._console,
        )
        self._description = description
        self._task: Any = None
        self._start = 0
        self._started = time.perf_counter()
        self.done = 0
        self.total = 0

    def __enter__(self) -> CountProgress:
        if self._live:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._progress.stop()

    def update(self, done: int, total: int, note: str = "") -> None:
        """Record that ``done`` of ``total`` units are finished (``note``: the last one)."""
        if self._task is None:
            self._start = done
            self._started = time.perf_counter()
            self._task = self._progress.add_task(self._description, total=total, completed=done)
        self.done, self.total = done, total
        self._progress.update(self._task, completed=done, total=total)
        if self._live or done == self._start:
            return
        elapsed = time.perf_counter() - self._started
        left = elapsed / (done - self._start) * (total - done)
        line = f"[{done}/{total}] {note}".rstrip() + f" (ETA {clock(left)})"
        self._console.print(line, markup=False, soft_wrap=True)


def clock(seconds: float) -> str:
    """Seconds as ``m:ss`` (or ``h:mm:ss``)."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
