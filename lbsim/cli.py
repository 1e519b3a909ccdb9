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
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbsim import __version__
from lbsim.cli_display import CountProgress as _CountProgress
from lbsim.cli_display import ProgressReporter as _ProgressReporter
from lbsim.cli_display import comparison_tables as _comparison_tables
from lbsim.cli_output import GuardedStdout, printable, target_problem

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


class _Unwritable(Exception):
    """The environment refuses an output (exit status 1, one line)."""


def _check_target(path: Path, *, folder: bool) -> None:
    """Stop before any work if ``path`` cannot be written (:func:`target_problem`)."""
    problem = target_problem(path, folder=folder)
    if problem is not None:
        status, reason = problem
        raise (_BadInput if status == EXIT_BAD_INPUT else _Unwritable)(reason)


def _error(message: str) -> None:
    """Write one ``lbsim: error:`` line to stderr (control characters escaped)."""
    sys.stderr.write(f"lbsim: error: {printable(message)}\n")


def _shown(path: object) -> str:
    """A path (or any name) as it may appear in a one-line message."""
    return printable(path)


def _os_reason(exc: OSError) -> str:
    """The reason of an ``OSError`` in words, with the file it concerns."""
    reason = exc.strerror or str(exc)
    return f"{reason} ({printable(exc.filename)})" if exc.filename else reason


def _done_note(note: str) -> None:
    """Tell the stdout guard what was done, for its message should stdout fail."""
    if isinstance(sys.stdout, GuardedStdout):
        sys.stdout.done_note = note


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other lbsim error."""

    def error(self, message: str) -> Any:  # argparse's contract: never returns
        """Write ``PROG: error: MESSAGE (usage: PROG --help)`` and exit with status 2."""
        self.exit(
            EXIT_BAD_INPUT,
            f"{self.prog}: error: {printable(message)} (usage: {self.prog} --help)\n",
        )


def _build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = _Parser(
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
            "--seed", type=_seed, metavar="N", help="random seed (replaces the scenario's)"
        )

    def budget_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--allow-large",
            action="store_true",
            help="run even when the work estimate is over the budget (see lbsim check)",
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
    budget_option(run)
    run.add_argument(
        "--out", metavar="DIR", type=Path, help="output directory (default: out/<scenario name>)"
    )
    run.add_argument(
        "--trace-segments",
        action="store_true",
        help="record every segment on every link (segments.csv; slower, larger)",
    )
    run.add_argument("--no-figures", action="store_true", help="do not draw figures/*.png")
    from lbsim.capture.options import add_pcap_arguments

    add_pcap_arguments(run)
    run.set_defaults(handler=_cmd_run)

    check = commands.add_parser(
        "check",
        help="validate a scenario and print it fully resolved",
        description="Validate a scenario (with overrides) and print the resolved YAML.",
    )
    check.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    scenario_options(check)
    check.set_defaults(handler=_cmd_check)
    _add_sweep_commands(commands, scenario_options, budget_option)
    _add_trace_command(commands, scenario_options, budget_option)
    _add_view_command(commands, scenario_options, budget_option)
    return parser


def _add_view_command(
    commands: Any, scenario_options: Callable[[Any], None], budget_option: Callable[[Any], None]
) -> None:
    """``lbsim view``: the step-through packet viewer (lbsim.teach.viewer)."""
    from lbsim.teach.viewer.command import add_view_arguments

    view = commands.add_parser(
        "view",
        help="write a step-through packet viewer (one offline HTML page)",
        description="Run balancer variants on the same workload and write one "
        "self-contained HTML page to step through every packet, hop by hop and layer "
        "by layer, L4 and L7 side by side.",
    )
    view.add_argument(
        "scenario", nargs="?", metavar="SCENARIO", help="scenario (default: quickstart)"
    )
    scenario_options(view)
    budget_option(view)
    add_view_arguments(view)
    view.set_defaults(handler=_cmd_view)


def _cmd_view(args: argparse.Namespace) -> int:
    """``lbsim view``: write the packet viewer page."""
    from lbsim.teach.viewer.command import ViewInputError, write_view

    scenario = _load(args)
    _check_budget(args, scenario, trace_segments=True)
    try:
        written = write_view(scenario, args)
    except ViewInputError as exc:
        raise _BadInput(f"{args.scenario or 'quickstart'}: {exc}") from exc
    sys.stdout.write(written.message)
    return EXIT_OK


def _add_trace_command(
    commands: Any, scenario_options: Callable[[Any], None], budget_option: Callable[[Any], None]
) -> None:
    """``lbsim trace``: one request, hop by hop and layer by layer (lbsim.teach)."""
    trace = commands.add_parser(
        "trace",
        help="follow one request through one balancer variant, layer by layer",
        description="Trace one request through one balancer variant and print, for each "
        "component on its path, which OSI layers it read and which header fields it "
        "rewrote, before and after.",
    )
    trace.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file or bundled name")
    scenario_options(trace)
    budget_option(trace)
    trace.add_argument("--variant", metavar="NAME", help="balancer variant (default: the first)")
    trace.add_argument(
        "--request", metavar="ID", help="request id, e.g. browsers-3-0 (default: the first done)"
    )
    trace.add_argument("--ladder", metavar="FILE", help="also save its ladder diagram (.png/.svg)")
    trace.add_argument(
        "--max-segments", type=_positive_int, default=40, metavar="N", help="ladder: at most N"
    )
    trace.add_argument(
        "--connection",
        action="store_true",
        help="also list every segment of its connection, SYN to FIN, with the decisions",
    )
    trace.set_defaults(handler=_cmd_trace)


def _cmd_trace(args: argparse.Namespace) -> int:
    """``lbsim trace``: print the per-hop layer view of one request."""
    scenario = _load(args)
    _check_budget(args, scenario, trace_segments=True, variants=1)
    if args.ladder is not None:
        _check_target(Path(args.ladder), folder=False)

    from lbsim.teach.report import TraceInputError, trace_report

    try:
        report = trace_report(
            scenario,
            args.variant,
            args.request,
            ladder=args.ladder,
            max_segments=args.max_segments,
            whole_connection=args.connection,
        )
    except TraceInputError as exc:
        raise _BadInput(f"{args.scenario}: {exc}") from exc
    except OSError as exc:
        raise _Unwritable(f"cannot write the ladder diagram: {_os_reason(exc)}") from exc
    sys.stdout.write(report.text)
    if report.ladder is not None:
        sys.stdout.write(f"ladder diagram written to {report.ladder}\n")
    return EXIT_OK


def _load(args: argparse.Namespace) -> Any:
    """Load the scenario named by ``args``; :class:`_BadInput` on any scenario error."""
    from lbsim.scenario import ScenarioError, load_scenario
    from lbsim.sim import check_buildable

    try:
        scenario = load_scenario(args.scenario, args.overrides, seed=args.seed)
    except ScenarioError as exc:
        raise _BadInput(str(exc)) from exc
    try:
        check_buildable(scenario)  # what only building a run can check (algorithm params)
    except ScenarioError as exc:
        source = args.scenario or "quickstart"
        raise _BadInput(str(ScenarioError(source, exc.path, exc.message))) from exc
    return scenario


def _cmd_check(args: argparse.Namespace) -> int:
    """``lbsim check``: validate and print the resolved scenario."""
    from lbsim.budget import estimate, over_budget

    scenario = _load(args)
    text = scenario.to_yaml()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    work = estimate(scenario)
    verdict = over_budget(work)
    sys.stdout.write(f"# work estimate of one run: {work.summary()}\n")
    sys.stdout.write(
        "# within the budget\n" if verdict is None else f"# over the budget: {verdict}\n"
    )
    return EXIT_OK


def _check_budget(
    args: argparse.Namespace,
    scenario: Any,
    *,
    trace_segments: bool = False,
    variants: int | None = None,
    pcap_unlimited: bool = False,
) -> None:
    """Refuse (exit 2) a run whose work estimate is over the budget, unless allowed."""
    from lbsim.budget import estimate, over_budget

    if getattr(args, "allow_large", False):
        return
    work = estimate(scenario, trace_segments=trace_segments, variants=variants)
    verdict = over_budget(work, pcap_unlimited=pcap_unlimited)
    if verdict is not None:
        raise _BadInput(f"{args.scenario or 'quickstart'}: {verdict}")


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
    """``lbsim run``: simulate, write the outputs, then print the comparison table."""
    scenario = _load(args)
    capture = args.pcap or args.pcap_client is not None
    unlimited = capture and args.pcap_connections is None and args.pcap_window is None
    _check_budget(args, scenario, trace_segments=args.trace_segments, pcap_unlimited=unlimited)

    out_dir: Path = args.out if args.out is not None else _default_out(scenario.name)
    _check_target(out_dir, folder=True)

    from lbsim.results import OutputDirError, check_output_dir

    try:
        check_output_dir(out_dir)
    except OutputDirError as exc:
        raise _BadInput(str(exc)) from exc

    from lbsim.capture.options import pcap_from_args

    try:
        pcap = pcap_from_args(args, scenario, out_dir)
    except ValueError as exc:
        raise _BadInput(str(exc)) from exc
    with _locked(out_dir):
        return _run_and_write(args, scenario, out_dir, pcap)


def _locked(out_dir: Path) -> Any:
    """Lock ``out_dir`` against other lbsim processes and clear killed runs' leftovers."""
    from lbsim.fsio import FolderBusyError, FolderLock, remove_leftovers

    lock = FolderLock(out_dir)
    try:
        lock.acquire()
    except FolderBusyError as exc:
        raise _BadInput(str(exc)) from exc
    removed = remove_leftovers(out_dir)
    if removed:
        shown = ", ".join(printable(name) for name in removed[:3])
        more = f" and {len(removed) - 3} more" if len(removed) > 3 else ""
        sys.stderr.write(f"lbsim: note: removed leftovers of an interrupted run: {shown}{more}\n")
    return lock


def _run_and_write(args: argparse.Namespace, scenario: Any, out_dir: Path, pcap: Any) -> int:
    """Simulate every variant, write the outputs, then print (``out_dir`` is locked)."""
    from lbsim.results import ExtraWriter, OutputDirError, build_results, write_outputs
    from lbsim.sim import run_scenario

    with _ProgressReporter(scenario) as progress:
        if pcap is None:
            runs = run_scenario(scenario, trace_segments=args.trace_segments, progress=progress)
        else:
            try:
                runs = pcap.run(scenario, trace_segments=args.trace_segments, progress=progress)
            except OSError as exc:
                pcap.cleanup()
                raise _Unwritable(f"cannot write the packet captures: {_os_reason(exc)}") from exc
    results = build_results(scenario, runs)

    # Write first, print second: stdout going away (a closed pipe, a full disk) must
    # never cost a finished run.
    try:
        extra: list[ExtraWriter] = [] if pcap is None else [pcap.write_into]
        if not args.no_figures:
            from lbsim.plots import figure_writer  # lazy: matplotlib only when drawing

            extra.insert(0, figure_writer(results))
        written = write_outputs(results, out_dir, extra=extra)
    except OutputDirError as exc:
        raise _BadInput(str(exc)) from exc
    except OSError as exc:
        _error(f"cannot write outputs to {_shown(out_dir)}: {_os_reason(exc)}")
        return EXIT_FAILURE
    finally:
        if pcap is not None:
            pcap.cleanup()
    console = _stdout_console()
    for renderable in _comparison_tables(results.summary, console.width):
        console.print(renderable)
    names = sorted({p.relative_to(out_dir).parts[0] for p in written})
    shown = ", ".join(f"{n}/" if n in ("figures", "pcap") else n for n in names)
    console.print(f"Outputs written to {_shown(out_dir)}/ ({shown})", markup=False, soft_wrap=True)
    _done_note(f"the outputs were written to {_shown(out_dir)}/")
    return EXIT_OK


# --- sweeps, sweep plots and the report figures ------------------------------------


def _seed(text: str) -> int:
    """Argparse type: a seed, a whole number from 0 to 2**64 - 1 (no 5000-digit text)."""
    from lbsim.scenario.bounds import BOUNDS

    limit = int(BOUNDS["seed"][0])
    if not text.strip().isdigit() or len(text.strip()) > 20 or int(text) > limit:
        shown = text if len(text) <= 30 else text[:27] + "..."
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {limit}, got {shown!r}"
        )
    return int(text)


def _replications(text: str) -> int:
    """Argparse type: replications per grid point, 1 to the bound."""
    from lbsim.scenario.bounds import BOUNDS

    value = _positive_int(text)
    limit, reason = BOUNDS["replications"]
    if value > limit:
        raise argparse.ArgumentTypeError(f"must be at most {limit:g}, got {value}: {reason}")
    return value


def _positive_int(text: str) -> int:
    """Argparse type: a whole number of at least 1."""
    try:
        if len(text) > 30:
            raise ValueError(text)
        value = int(text)
    except ValueError:
        shown = text if len(text) <= 30 else text[:27] + "..."
        raise argparse.ArgumentTypeError(f"expected a whole number, got {shown!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_sweep_commands(
    commands: Any,
    scenario_options: Callable[[argparse.ArgumentParser], None],
    budget_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add the ``sweep``, ``plot`` and ``figures`` sub-commands."""
    sweep = commands.add_parser(
        "sweep",
        help="run a scenario over a parameter grid, with replications",
        description="Run every balancer variant of a scenario at every point of a parameter "
        "grid, R times with recorded seeds, and write a tidy table (one row per grid point, "
        "replication and variant) and an aggregate with 95% confidence intervals into DIR.",
    )
    sweep.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file or bundled name")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PATH=V1,V2,...",
        help="a swept key and its values; a value START:STOP:STEP is a range "
        "(e.g. clients.browsers.count=50:200:50); several --grid form the cartesian product",
    )
    scenario_options(sweep)
    budget_option(sweep)
    sweep.add_argument(
        "--replications",
        type=_replications,
        default=1,
        metavar="R",
        help="independent runs per grid point, each with its own recorded seed (default 1)",
    )
    where = sweep.add_mutually_exclusive_group()
    where.add_argument(
        "--jobs", type=_positive_int, default=1, metavar="J", help="local worker processes"
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask distributed cluster whose scheduler is at ADDRESS "
        "(needs the optional extra: pip install 'lbsim[dask]')",
    )
    sweep.add_argument("--out", type=Path, required=True, metavar="DIR", help="sweep directory")
    sweep.add_argument(
        "--resume", action="store_true", help="continue the sweep in DIR, skipping finished runs"
    )
    sweep.set_defaults(handler=_cmd_sweep)

    plot = commands.add_parser(
        "plot",
        help="draw a metric of a sweep against a swept parameter",
        description="Draw the mean of METRIC against the swept PATH, one line per variant, "
        "with 95% confidence bands over the replications.",
    )
    plot.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="an lbsim sweep directory")
    plot.add_argument("--x", required=True, metavar="PATH", help="swept key path")
    plot.add_argument(
        "--y", required=True, metavar="METRIC", help="runs.csv metric column, e.g. latency.p99"
    )
    plot.add_argument(
        "--variant", action="append", dest="variants", metavar="NAME", help="only this variant"
    )
    plot.add_argument(
        "--log-x",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="logarithmic x axis (default: when the values span a factor of 20 or more)",
    )
    plot.add_argument("--log-y", action="store_true", help="logarithmic y axis")
    plot.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="figure file, .png, .svg or .pdf (default: SWEEP_DIR/figures/METRIC-vs-PATH.png)",
    )
    plot.set_defaults(handler=_cmd_plot)

    figures = commands.add_parser(
        "figures",
        help="regenerate the report figures",
        description="Run the bundled scenarios and small sweeps behind the report figures, "
        "draw them (PNG and SVG) and write DIR/README.md with captions and commands.",
    )
    figures.add_argument(
        "--out", type=Path, default=Path("figures"), metavar="DIR", help="default: figures"
    )
    figures.add_argument(
        "--only", action="append", metavar="NAME", help="regenerate only this figure; repeatable"
    )
    figures.add_argument(
        "--jobs", type=_positive_int, metavar="J", help="worker processes (default: CPUs)"
    )
    figures.add_argument("--list", action="store_true", help="list the figures and exit")
    figures.set_defaults(handler=_cmd_figures)


def _cmd_sweep(args: argparse.Namespace) -> int:
    """``lbsim sweep``: run the grid × replications, keep every run, write the tables."""
    from lbsim.scenario import ScenarioError
    from lbsim.sweep import (
        ExecutorError,
        RunFailed,
        SweepDirError,
        SweepPlan,
        SweepProgress,
        check_sweep_dir,
        open_executor,
        run_sweep,
    )

    try:
        plan = SweepPlan.load(
            args.scenario,
            args.grid,
            overrides=args.overrides,
            seed=args.seed,
            replications=args.replications,
            allow_large=args.allow_large,
        )
        check_sweep_dir(args.out, plan, resume=args.resume)
        executor = open_executor(args.jobs, args.scheduler)
    except (ScenarioError, SweepDirError, ExecutorError) as exc:
        raise _BadInput(str(exc)) from exc

    console = _stdout_console()
    points, reps = len(plan.points()), plan.replications
    console.print(
        f"sweep {printable(plan.name)}: {points} grid point{'s' * (points != 1)} × {reps} "
        f"replication{'s' * (reps != 1)} = {points * reps} runs of "
        f"{len(plan.variants)} variants ({', '.join(plan.variants)}) on {executor.description}",
        markup=False,
        soft_wrap=True,
    )
    progress = _CountProgress(f"sweep {printable(plan.name)}")

    def report(state: SweepProgress) -> None:
        note = f"{state.last.label()} done" if state.last is not None else ""
        progress.update(state.done, state.total, note)

    try:
        with progress:
            outcome = run_sweep(
                plan, args.out, executor=executor, resume=args.resume, progress=report
            )
    except SweepDirError as exc:
        raise _BadInput(str(exc)) from exc
    except RunFailed as exc:
        _error(f"{exc}; {exc.done} of {exc.total} runs kept in {args.out} (continue with --resume)")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _error(
            f"interrupted; {progress.done} of {progress.total} runs kept in {args.out} "
            "(continue with --resume)"
        )
        return 130
    except OSError as exc:
        _error(f"cannot write the sweep to {args.out}: {exc}")
        return EXIT_FAILURE
    finally:
        executor.close()
    for renderable in _sweep_summary(outcome.directory, plan):
        console.print(renderable)
    skipped = f", {outcome.skipped} already done" if outcome.skipped else ""
    console.print(
        f"{outcome.ran} runs{skipped}; tables written to {outcome.directory}/ "
        "(runs.csv, aggregate.csv, timings.csv)",
        markup=False,
        soft_wrap=True,
    )
    return EXIT_OK


_SWEEP_COLUMNS = (
    ("req/s", "throughput_rps", 1.0, ".1f"),
    ("p99 ms", "latency.p99", 1e3, ".3g"),
    ("Jain", "jain_fairness", 1.0, ".3f"),
    ("LB CPU %", "lb.cpu_utilization", 100.0, ".1f"),
)
_SWEEP_TABLE_ROWS = 40


def _sweep_summary(directory: Path, plan: Any) -> list[Any]:
    """A table of a few aggregated metrics per grid point and variant (mean ± CI half width)."""
    import math

    import pandas as pd
    from rich import box
    from rich.table import Table
    from rich.text import Text

    aggregate = pd.read_csv(directory / "aggregate.csv")
    groups = list(aggregate.groupby(["point", "variant"], sort=False))
    if not groups:
        return []
    if len(groups) > _SWEEP_TABLE_ROWS:
        return [Text(f"({len(groups)} grid point × variant rows: see aggregate.csv)")]
    title = "mean ± 95% CI half width" if plan.replications > 1 else "one replication per point"
    table = Table(
        title=f"{printable(plan.name)}: {title}", title_justify="left", box=box.SIMPLE_HEAD
    )
    paths = [axis.path for axis in plan.axes]
    for path in paths:
        table.add_column(path, no_wrap=True)
    table.add_column("variant", no_wrap=True)
    for header, *_ in _SWEEP_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    for (_, variant), rows in groups:
        columns = rows.set_index("metric")[["mean", "ci_high"]]
        by_metric: dict[Any, dict[Any, Any]] = columns.to_dict("index")
        cells = []
        for _, metric, scale, spec in _SWEEP_COLUMNS:
            mean = float(by_metric.get(metric, {}).get("mean", math.nan)) * scale
            if math.isnan(mean):
                cells.append("–")
                continue
            high = float(by_metric[metric]["ci_high"]) * scale
            text = format(mean, spec)
            if math.isfinite(high):
                text += " ± " + format(high - mean, spec)
            cells.append(text)
        first = rows.iloc[0]
        table.add_row(*(str(first[p]) for p in paths), str(variant), *cells)
    return [table]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def _cmd_plot(args: argparse.Namespace) -> int:
    """``lbsim plot``: one metric of a sweep against a swept parameter."""
    from lbsim.sweep import SweepDirError, load_sweep, read_manifest

    try:
        manifest = read_manifest(args.sweep_dir)
        table = load_sweep(args.sweep_dir)
    except SweepDirError as exc:
        raise _BadInput(str(exc)) from exc
    if table.runs.empty:
        raise _BadInput(f"{args.sweep_dir}: no finished runs yet")
    swept = [axis.path for axis in table.axes]
    if args.x not in swept:
        shown = ", ".join(swept) or "nothing: the sweep has no --grid"
        raise _BadInput(f"--x {args.x}: not a swept path (swept: {shown})")
    metrics = table.metrics()
    if args.y not in metrics:
        import difflib

        near = difflib.get_close_matches(args.y, metrics, n=3)
        hint = f"did you mean {', '.join(near)}? " if near else ""
        raise _BadInput(f"--y {args.y}: no such metric ({hint}metrics: {', '.join(metrics)})")
    for name in args.variants or []:
        if name not in table.variants:
            raise _BadInput(f"--variant {name}: no such variant ({', '.join(table.variants)})")
    out: Path = args.out or args.sweep_dir / "figures" / f"{_slug(args.y)}-vs-{_slug(args.x)}.png"
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise _BadInput(f"--out {out}: expected a file ending in .png, .svg or .pdf")
    if not manifest.get("complete"):
        sys.stderr.write(
            f"lbsim: note: {args.sweep_dir} is not complete; plotting the runs finished so far\n"
        )

    from lbsim.plots.style import save_figure_as
    from lbsim.plots.sweep_metric import metric_vs_parameter

    figure = metric_vs_parameter(
        table, args.x, args.y, variants=args.variants, log_x=args.log_x, log_y=args.log_y
    )
    try:
        save_figure_as(figure, out)
    except OSError as exc:
        _error(f"cannot write {out}: {exc}")
        return EXIT_FAILURE
    sys.stdout.write(f"Figure written to {out}\n")
    return EXIT_OK


def _cmd_figures(args: argparse.Namespace) -> int:
    """``lbsim figures``: regenerate the report figures and their README."""
    from lbsim.report import REGISTRY, BuildProgress, DataFailed, regenerate
    from lbsim.scenario import ScenarioError
    from lbsim.sweep import open_executor

    if args.list:
        for figure in REGISTRY:
            sys.stdout.write(f"{figure.name}: {figure.caption}\n")
        return EXIT_OK
    for name in args.only or []:
        if name not in REGISTRY.names():
            raise _BadInput(f"--only {name}: no such figure ({', '.join(REGISTRY.names())})")
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise _BadInput(f"{out}: exists and is not a directory; choose another --out")
    jobs = args.jobs or os.cpu_count() or 1
    executor = open_executor(jobs)
    console = _stdout_console()
    started = time.perf_counter()
    progress = _CountProgress("report data")

    def report(state: BuildProgress) -> None:
        progress.update(state.done, state.total)

    try:
        with progress:
            reports = regenerate(out, only=args.only, executor=executor, progress=report)
    except (DataFailed, ScenarioError) as exc:
        _error(f"a report figure's data failed: {exc}")
        return EXIT_FAILURE
    except OSError as exc:
        _error(f"cannot write the figures to {out}: {exc}")
        return EXIT_FAILURE
    finally:
        executor.close()
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title=f"report figures ({jobs} jobs)", title_justify="left")
    for header in ("figure", "runs", "simulation s", "drawing s"):
        table.add_column(header, justify="left" if header == "figure" else "right")
    for item in reports:
        table.add_row(
            item.name, str(item.runs), f"{item.compute_seconds:.1f}", f"{item.draw_seconds:.1f}"
        )
    console.print(table)
    slowest = max(reports, key=lambda r: r.compute_seconds + r.draw_seconds)
    console.print(
        f"{len(reports)} figures (PNG and SVG) and README.md written to {out}/ in "
        f"{time.perf_counter() - started:.0f} s wall-clock; slowest: {slowest.name} "
        f"({slowest.compute_seconds + slowest.draw_seconds:.0f} s of simulation and drawing)",
        markup=False,
        soft_wrap=True,
    )
    return EXIT_OK


class _Terminated(BaseException):
    """SIGTERM arrived: unwind (temporary files are removed on the way) and exit 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def _catch_sigterm() -> Any:
    """Turn SIGTERM into :class:`_Terminated`; returns the previous handler (or None)."""
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        return None


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
    guard = GuardedStdout(sys.stdout)
    original, sys.stdout = sys.stdout, guard
    previous = _catch_sigterm()
    try:
        status: int = args.handler(args)
    except _BadInput as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except _Unwritable as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except _Terminated:
        _error("terminated")
        return 143
    finally:
        sys.stdout = original
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    failure = guard.failure()
    if failure is not None:
        _error(failure)
        return EXIT_FAILURE if status == EXIT_OK else status
    return status
