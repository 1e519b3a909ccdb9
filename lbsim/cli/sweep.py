"""The ``lbsim sweep``, ``plot`` and ``figures`` sub-commands: many runs, and their figures.

Theory of operation: ``sweep`` builds a :class:`lbsim.sweep.SweepPlan` (grid ×
replications, each run with a recorded seed), checks the sweep folder, runs the plan
on local processes or a Dask cluster with a counting progress display, and prints a
short table of the aggregate (mean ± 95% CI half width); a failed or interrupted
sweep keeps its finished runs for ``--resume``. ``plot`` draws one metric of a sweep
folder against one swept path after checking both names. ``figures`` regenerates the
report figures from :data:`lbsim.report.REGISTRY` and prints what each one cost.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from lbsim.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    BadInput,
    budget_option,
    error,
    positive_int,
    replications_arg,
    scenario_options,
    stdout_console,
)
from lbsim.cli.display import CountProgress
from lbsim.cli.output import printable
from lbsim.cli.run import clear_stale_spills


def add_sweep_commands(commands: Any) -> None:
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
        type=replications_arg,
        default=1,
        metavar="R",
        help="independent runs per grid point, each with its own recorded seed (default 1)",
    )
    where = sweep.add_mutually_exclusive_group()
    where.add_argument(
        "--jobs", type=positive_int, default=1, metavar="J", help="local worker processes"
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
    sweep.set_defaults(handler=cmd_sweep)

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
    plot.set_defaults(handler=cmd_plot)

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
        "--jobs", type=positive_int, metavar="J", help="worker processes (default: CPUs)"
    )
    figures.add_argument("--list", action="store_true", help="list the figures and exit")
    figures.set_defaults(handler=cmd_figures)


def cmd_sweep(args: argparse.Namespace) -> int:
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
        raise BadInput(str(exc)) from exc

    clear_stale_spills()
    console = stdout_console()
    points, reps = len(plan.points()), plan.replications
    console.print(
        f"sweep {printable(plan.name)}: {points} grid point{'s' * (points != 1)} × {reps} "
        f"replication{'s' * (reps != 1)} = {points * reps} runs of "
        f"{len(plan.variants)} variants ({', '.join(plan.variants)}) on {executor.description}",
        markup=False,
        soft_wrap=True,
    )
    progress = CountProgress(f"sweep {printable(plan.name)}")

    def report(state: SweepProgress) -> None:
        note = f"{state.last.label()} done" if state.last is not None else ""
        progress.update(state.done, state.total, note)

    try:
        with progress:
            outcome = run_sweep(
                plan, args.out, executor=executor, resume=args.resume, progress=report
            )
    except SweepDirError as exc:
        raise BadInput(str(exc)) from exc
    except RunFailed as exc:
        error(f"{exc}; {exc.done} of {exc.total} runs kept in {args.out} (continue with --resume)")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        kept = _runs_kept(Path(args.out), progress.done)
        error(
            f"interrupted; {kept} of {progress.total} runs kept in {args.out} "
            "(continue with --resume)"
        )
        return 130
    except OSError as exc:
        error(f"cannot write the sweep to {args.out}: {exc}")
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
    """``text`` with characters unsafe in a file name replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def cmd_plot(args: argparse.Namespace) -> int:
    """``lbsim plot``: one metric of a sweep against a swept parameter."""
    from lbsim.sweep import SweepDirError, load_sweep, read_manifest

    try:
        manifest = read_manifest(args.sweep_dir)
        table = load_sweep(args.sweep_dir)
    except SweepDirError as exc:
        raise BadInput(str(exc)) from exc
    if table.runs.empty:
        raise BadInput(f"{args.sweep_dir}: no finished runs yet")
    swept = [axis.path for axis in table.axes]
    if args.x not in swept:
        shown = ", ".join(swept) or "nothing: the sweep has no --grid"
        raise BadInput(f"--x {args.x}: not a swept path (swept: {shown})")
    metrics = table.metrics()
    if args.y not in metrics:
        import difflib

        near = difflib.get_close_matches(args.y, metrics, n=3)
        hint = f"did you mean {', '.join(near)}? " if near else ""
        raise BadInput(f"--y {args.y}: no such metric ({hint}metrics: {', '.join(metrics)})")
    for name in args.variants or []:
        if name not in table.variants:
            raise BadInput(f"--variant {name}: no such variant ({', '.join(table.variants)})")
    out: Path = args.out or args.sweep_dir / "figures" / f"{_slug(args.y)}-vs-{_slug(args.x)}.png"
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise BadInput(f"--out {out}: expected a file ending in .png, .svg or .pdf")
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
        error(f"cannot write {out}: {exc}")
        return EXIT_FAILURE
    sys.stdout.write(f"Figure written to {out}\n")
    return EXIT_OK


def cmd_figures(args: argparse.Namespace) -> int:
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
            raise BadInput(f"--only {name}: no such figure ({', '.join(REGISTRY.names())})")
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: exists and is not a directory; choose another --out")
    jobs = args.jobs or os.cpu_count() or 1
    executor = open_executor(jobs)
    console = stdout_console()
    started = time.perf_counter()
    progress = CountProgress("report data")

    def report(state: BuildProgress) -> None:
        progress.update(state.done, state.total)

    try:
        with progress:
            reports = regenerate(out, only=args.only, executor=executor, progress=report)
    except (DataFailed, ScenarioError) as exc:
        error(f"a report figure's data failed: {exc}")
        return EXIT_FAILURE
    except OSError as exc:
        error(f"cannot write the figures to {out}: {exc}")
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


def _runs_kept(out: Path, shown: int) -> int:
    """Runs the journal holds after an interrupt (``shown``, the progress count, if unreadable).

    The journal is the truth: Ctrl-C can land between a run's journal line and its
    progress line, and ``--resume`` skips exactly the runs the journal holds.
    """
    from lbsim.sweep.journal import Journal, JournalError

    try:
        return len(Journal(out / "runs.jsonl").read())
    except (OSError, JournalError):
        return shown
