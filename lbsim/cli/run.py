"""The ``lbsim run`` and ``lbsim check`` sub-commands: one scenario, every variant.

Theory of operation: ``check`` loads the scenario with its overrides, prints it fully
resolved and says whether one run fits the work budget. ``run`` refuses bad input
before any work (scenario, budget, output folder, capture options), locks the output
folder against other lbsim processes, runs every balancer variant with a progress
display on stderr, *writes* the outputs (tables, ``summary.json``, figures, packet
captures) and only then *prints* the comparison table, so a closed stdout never
costs a finished run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbsim.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    BadInput,
    Unwritable,
    budget_option,
    check_budget,
    check_target,
    default_out,
    done_note,
    error,
    load,
    need_segment_level,
    os_reason,
    scenario_options,
    shown_path,
    stdout_console,
)
from lbsim.cli.display import ProgressReporter, comparison_tables
from lbsim.cli.output import printable

if TYPE_CHECKING:
    from lbsim.scenario import Scenario


def add_run_commands(commands: Any) -> None:
    """Add the ``run`` and ``check`` sub-commands."""
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
    run.set_defaults(handler=cmd_run)

    check = commands.add_parser(
        "check",
        help="validate a scenario and print it fully resolved",
        description="Validate a scenario (with overrides) and print the resolved YAML.",
    )
    check.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    scenario_options(check)
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """``lbsim check``: validate and print the resolved scenario."""
    from lbsim.budget import estimate, over_budget

    scenario = load(args)
    text = scenario.to_yaml()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    work = estimate(scenario)
    verdict = over_budget(work)
    sys.stdout.write(f"# work estimate of one run: {work.summary()}\n")
    sys.stdout.write(
        "# within the budget\n" if verdict is None else f"# over the budget: {verdict}\n"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """``lbsim run``: simulate, write the outputs, then print the comparison table."""
    scenario = load(args)
    capture = args.pcap or args.pcap_client is not None
    unlimited = capture and args.pcap_connections is None and args.pcap_window is None
    if capture:
        need_segment_level(args, scenario, "a packet capture (--pcap)")
    if args.trace_segments:
        need_segment_level(args, scenario, "--trace-segments")
    check_budget(args, scenario, trace_segments=args.trace_segments, pcap_unlimited=unlimited)

    if not args.no_figures:
        _check_load_sweep(args, scenario)
    out_dir: Path = args.out if args.out is not None else default_out(scenario.name)
    check_target(out_dir, folder=True)

    from lbsim.results import OutputDirError, check_output_dir

    try:
        check_output_dir(out_dir)
    except OutputDirError as exc:
        raise BadInput(str(exc)) from exc

    from lbsim.capture.options import pcap_from_args

    try:
        pcap = pcap_from_args(args, scenario, out_dir)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    with _locked(out_dir):
        clear_stale_spills()
        return _run_and_write(args, scenario, out_dir, pcap)


def clear_stale_spills() -> None:
    """Delete the spill folders killed runs left in the temporary directory, with a note."""
    from lbsim.spill import remove_stale_spills

    removed = remove_stale_spills()
    if removed:
        where = shown_path(removed[0].parent)
        sys.stderr.write(
            f"lbsim: note: removed {len(removed)} record spill folder"
            f"{'s' * (len(removed) != 1)} that killed runs left in {where}\n"
        )


def _check_load_sweep(args: argparse.Namespace, scenario: Any) -> None:
    """Refuse (exit 2) a load-sweep figure for a scenario with no open-loop rate to scale."""
    from lbsim.scenario import ScenarioError
    from lbsim.scenario.figure_names import LOAD_SWEEP_FIGURES

    for index, name in enumerate(getattr(scenario, "figures", ())):
        if name in LOAD_SWEEP_FIGURES and all(c.rate is None for c in scenario.clients):
            reason = (
                f'figure "{name}" runs the scenario at scaled open-loop rates, but no '
                "client group has a rate (clients.*.rate)"
            )
            raise BadInput(
                str(ScenarioError(args.scenario or "quickstart", f"figures.{index}", reason))
            )


def _load_sweep_writers(scenario: Any) -> list[Any]:
    """Writers of the load-sweep figures the scenario names (their extra runs done here)."""
    from lbsim.scenario.figure_names import LOAD_SWEEP_FIGURES

    if not any(name in LOAD_SWEEP_FIGURES for name in getattr(scenario, "figures", ())):
        return []
    from lbsim.plots.style import save_figure
    from lbsim.report.load_sweep import latency_vs_load

    def note(text: str) -> None:
        sys.stderr.write(f"  latency_vs_load: {text}\n")
        sys.stderr.flush()

    figure = latency_vs_load(scenario, note=note)
    return [lambda directory: [save_figure(figure, directory / "figures" / "latency_vs_load.png")]]


def _locked(out_dir: Path) -> Any:
    """Lock ``out_dir`` against other lbsim processes and clear killed runs' leftovers."""
    from lbsim.fsio import FolderBusyError, FolderLock, remove_leftovers

    lock = FolderLock(out_dir)
    try:
        lock.acquire()
    except FolderBusyError as exc:
        raise BadInput(str(exc)) from exc
    removed = remove_leftovers(out_dir)
    if removed:
        shown = ", ".join(printable(name) for name in removed[:3])
        more = f" and {len(removed) - 3} more" if len(removed) > 3 else ""
        sys.stderr.write(f"lbsim: note: removed leftovers of an interrupted run: {shown}{more}\n")
    return lock


def _run_and_write(args: argparse.Namespace, scenario: Scenario, out_dir: Path, pcap: Any) -> int:
    """Simulate every variant, write the outputs, then print (``out_dir`` is locked)."""
    from lbsim.results import ExtraWriter, OutputDirError, build_results, write_outputs
    from lbsim.sim import run_scenario

    with ProgressReporter(scenario) as progress:
        if pcap is None:
            runs = run_scenario(scenario, trace_segments=args.trace_segments, progress=progress)
        else:
            try:
                runs = pcap.run(scenario, trace_segments=args.trace_segments, progress=progress)
            except OSError as exc:
                pcap.cleanup()
                raise Unwritable(f"cannot write the packet captures: {os_reason(exc)}") from exc
    results = build_results(scenario, runs)

    # Write first, print second: stdout going away (a closed pipe, a full disk) must
    # never cost a finished run.
    try:
        extra: list[ExtraWriter] = [] if pcap is None else [pcap.write_into]
        if not args.no_figures:
            from lbsim.plots import figure_writer  # lazy: matplotlib only when drawing

            extra[:0] = [figure_writer(results), *_load_sweep_writers(scenario)]
        written = write_outputs(results, out_dir, extra=extra)
    except OutputDirError as exc:
        raise BadInput(str(exc)) from exc
    except OSError as exc:
        error(f"cannot write outputs to {shown_path(out_dir)}: {os_reason(exc)}")
        return EXIT_FAILURE
    finally:
        if pcap is not None:
            pcap.cleanup()
    console = stdout_console()
    for renderable in comparison_tables(results.summary, console.width):
        console.print(renderable)
    names = sorted({p.relative_to(out_dir).parts[0] for p in written})
    shown = ", ".join(f"{n}/" if n in ("figures", "pcap") else n for n in names)
    console.print(
        f"Outputs written to {shown_path(out_dir)}/ ({shown})", markup=False, soft_wrap=True
    )
    done_note(f"the outputs were written to {shown_path(out_dir)}/")
    return EXIT_OK
