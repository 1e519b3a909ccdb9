"""The ``lbsim`` command line: the only module of the package that prints.

Theory of operation: :func:`main` parses the arguments with :mod:`argparse` and
dispatches to one function per sub-command. Heavy modules (the engine, pandas,
matplotlib) are imported inside the sub-commands, so ``lbsim --help`` and argument
errors answer at once.

Exit status (a contract, see ``docs/reference/cli.md``):

* 0: success;
* 1: the run could not finish for a reason other than its input (for instance the
  output files could not be written);
* 2: bad input: command-line arguments, scenario file, key, value, unit or
  ``--set`` override, or an ``--out`` directory holding foreign files. The message
  goes to stderr as one line starting with ``lbsim: error:``, without a traceback,
  and no output directory is created.

Human-oriented output uses rich: progress on stderr while the variants run, the
comparison table and the output path on stdout. Scenario YAML and error messages
are written verbatim (never through rich markup, which would eat ``[...]``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbsim import __version__

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["main"]

#: Exit status: success.
EXIT_OK = 0
#: Exit status: the run failed for a reason other than its input.
EXIT_FAILURE = 1
#: Exit status: bad input (arguments, scenario, override, output directory).
EXIT_BAD_INPUT = 2

_WIDE = 160  # table width when stdout is not a terminal (logs, pipes, tests)


class _BadInput(Exception):
    """Input problem already phrased for the user (one line, no traceback)."""


def _error(message: str) -> None:
    """Write one ``lbsim: error:`` line to stderr."""
    sys.stderr.write(f"lbsim: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="lbsim",
        description="Simulate layer-4 and layer-7 load balancers on the same workload.",
    )
    parser.add_argument("--version", action="version", version=f"lbsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def scenario_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="PATH=VALUE",
            help="override one scenario value; PATH is dotted, list items by name "
            "(e.g. balancers.l7.algorithm=random); repeatable",
        )
        sub.add_argument(
            "--seed", type=int, metavar="N", help="random seed (replaces the scenario's)"
        )

    run = commands.add_parser(
        "run",
        help="run every balancer variant of a scenario and write the results",
        description="Run every balancer variant of a scenario on the same workload, print "
        "a comparison table, and write requests.csv, summary.json and figures/*.png.",
    )
    run.add_argument(
        "scenario",
        nargs="?",
        metavar="SCENARIO",
        help="scenario YAML file (default: the bundled quickstart)",
    )
    scenario_options(run)
    run.add_argument(
        "--out", metavar="DIR", type=Path, help="output directory (default: out/<scenario name>)"
    )
    run.add_argument(
        "--trace-segments",
        action="store_true",
        help="record every segment on every link (segments.csv; slower, larger)",
    )
    run.add_argument("--no-figures", action="store_true", help="do not draw figures/*.png")
    run.set_defaults(handler=_cmd_run)

    check = commands.add_parser(
        "check",
        help="validate a scenario and print it fully resolved",
        description="Validate a scenario (with overrides) and print the resolved YAML.",
    )
    check.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    scenario_options(check)
    check.set_defaults(handler=_cmd_check)
    return parser


def _load(args: argparse.Namespace) -> Any:
    """Load the scenario named by ``args``; :class:`_BadInput` on any scenario error."""
    from lbsim.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(args.scenario, args.overrides, seed=args.seed)
    except ScenarioError as exc:
        raise _BadInput(str(exc)) from exc


def _cmd_check(args: argparse.Namespace) -> int:
    """``lbsim check``: validate and print the resolved scenario."""
    scenario = _load(args)
    text = scenario.to_yaml()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _default_out(name: str) -> Path:
    """``out/<name>``, with characters unsafe in a directory name replaced by ``_``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "scenario"
    return Path("out") / safe


def _stdout_console() -> Console:
    """Rich console on stdout; wide when not a terminal (and no ``COLUMNS``) so tables fit."""
    from rich.console import Console

    console = Console(highlight=False)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(highlight=False, width=_WIDE)


def _cmd_run(args: argparse.Namespace) -> int:
    """``lbsim run``: simulate, print the comparison table, write the outputs."""
    from lbsim.results import OutputDirError, build_results, check_output_dir, write_outputs

    scenario = _load(args)
    out_dir: Path = args.out if args.out is not None else _default_out(scenario.name)
    try:
        check_output_dir(out_dir)
    except OutputDirError as exc:
        raise _BadInput(str(exc)) from exc

    from lbsim.sim import run_scenario

    with _ProgressReporter(scenario) as progress:
        runs = run_scenario(scenario, trace_segments=args.trace_segments, progress=progress)
    results = build_results(scenario, runs)

    console = _stdout_console()
    for renderable in _comparison_tables(results.summary, console.width):
        console.print(renderable)
    try:
        written = write_outputs(results, out_dir, figures=not args.no_figures)
    except OutputDirError as exc:
        raise _BadInput(str(exc)) from exc
    except OSError as exc:
        _error(f"cannot write outputs to {out_dir}: {exc}")
        return EXIT_FAILURE
    names = sorted({p.relative_to(out_dir).parts[0] for p in written})
    shown = ", ".join(f"{n}/" if n == "figures" else n for n in names)
    console.print(f"Outputs written to {out_dir}/ ({shown})", markup=False, soft_wrap=True)
    return EXIT_OK


class _ProgressReporter:
    """Shows which variant is running, as a rich progress bar on stderr.

    Used as the engine's ``progress(variant, fraction)`` callback, ``fraction``
    going from 0 to 1 as the variant's simulated time advances. When stderr is not a
    terminal it writes one line per variant instead of redrawing a bar.
    """

    def __init__(self, scenario: Any) -> None:
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
        self._scenario_name = str(scenario.name)

    def __enter__(self) -> Callable[[str, float], None]:
        if self._live:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._progress.stop()
        else:
            self._finish_previous(None)

    def _finish_previous(self, current: str | None) -> None:
        """In line mode, report the variants other than ``current`` as finished."""
        for name, started in list(self._started.items()):
            if name != current:
                elapsed = time.perf_counter() - started
                self._console.print(f"  variant {name} done ({elapsed:.1f} s)", markup=False)
                del self._started[name]

    def __call__(self, variant: str, fraction: float) -> None:
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
    ("req/s", lambda v: _fmt(v["throughput_rps"], ".1f")),
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
_SPLIT = 8  # requests ... p99 | stickiness ... peak buffer


def _comparison_tables(summary: dict[str, Any], width: int) -> list[Any]:
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
        f"{summary['scenario']} (seed {summary['seed']}): statistics over "
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lbsim`` command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit status (0 success, 1 failure, 2 bad input).
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        status: int = args.handler(args)
    except _BadInput as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    return status
