"""What every ``lbsim`` sub-command shares: exit statuses, errors, scenarios, budgets.

Theory of operation: a command reports bad input by raising :class:`BadInput` and an
output the environment refuses by raising :class:`Unwritable`, each with a message
already phrased for the user; :func:`lbsim.cli.main` turns them into one
``lbsim: error:`` line on stderr and exit status 2 or 1. :func:`load` is the one way
a command reads its scenario (overrides, seed and the checks only building a run
can make) and :func:`check_budget` the one way it refuses a run whose work estimate
is over the budget. The argparse types and shared options live here too, so every
command spells ``--set``, ``--seed`` and ``--allow-large`` the same way. Heavy
modules are imported inside the functions, so ``lbsim --help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lbsim.cli.output import GuardedStdout, printable, target_problem

if TYPE_CHECKING:
    from rich.console import Console

    from lbsim.scenario import Scenario

#: Exit status: success.
EXIT_OK = 0
#: Exit status: the run failed for a reason other than its input.
EXIT_FAILURE = 1
#: Exit status: bad input (arguments, scenario, override, output directory).
EXIT_BAD_INPUT = 2

_WIDE = 160  # table width when stdout is not a terminal (logs, pipes, tests)


class BadInput(Exception):
    """Input problem already phrased for the user (one line, no traceback)."""


class Unwritable(Exception):
    """The environment refuses an output (exit status 1, one line)."""


def need_segment_level(args: argparse.Namespace, scenario: Scenario, what: str) -> None:
    """Refuse ``what`` (an option or command that shows segments) at request level."""
    if getattr(scenario, "fidelity", "segment") == "request":
        source = getattr(args, "scenario", None) or "quickstart"
        raise BadInput(
            f"{source}: fidelity: {what} needs every segment, which request level "
            "(fidelity: request) does not simulate; use --set fidelity=segment"
        )


def check_target(path: Path, *, folder: bool) -> None:
    """Stop before any work if ``path`` cannot be written (:func:`target_problem`)."""
    problem = target_problem(path, folder=folder)
    if problem is not None:
        status, reason = problem
        raise (BadInput if status == EXIT_BAD_INPUT else Unwritable)(reason)


def error(message: str) -> None:
    """Write one ``lbsim: error:`` line to stderr (control characters escaped)."""
    sys.stderr.write(f"lbsim: error: {printable(message)}\n")


def shown_path(path: object) -> str:
    """A path (or any name) as it may appear in a one-line message."""
    return printable(path)


def os_reason(exc: OSError) -> str:
    """The reason of an ``OSError`` in words, with the file it concerns."""
    reason = exc.strerror or str(exc)
    return f"{reason} ({printable(exc.filename)})" if exc.filename else reason


def done_note(note: str) -> None:
    """Tell the stdout guard what was done, for its message should stdout fail."""
    if isinstance(sys.stdout, GuardedStdout):
        sys.stdout.done_note = note


def load(args: argparse.Namespace) -> Scenario:
    """Load the scenario named by ``args``; :class:`BadInput` on any scenario error."""
    from lbsim.scenario import ScenarioError, load_scenario
    from lbsim.sim import check_buildable

    try:
        scenario = load_scenario(args.scenario, args.overrides, seed=args.seed)
    except ScenarioError as exc:
        raise BadInput(str(exc)) from exc
    try:
        check_buildable(scenario)  # what only building a run can check (algorithm params)
    except ScenarioError as exc:
        source = args.scenario or "quickstart"
        raise BadInput(str(ScenarioError(source, exc.path, exc.message))) from exc
    return scenario


def check_budget(
    args: argparse.Namespace,
    scenario: Scenario,
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
        raise BadInput(f"{args.scenario or 'quickstart'}: {verdict}")


def default_out(name: str) -> Path:
    """``out/<name>``, with characters unsafe in a directory name replaced by ``_``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "scenario"
    return Path("out") / safe


def stdout_console() -> Console:
    """Rich console on stdout; wide when not a terminal (and no ``COLUMNS``) so tables fit."""
    from rich.console import Console

    console = Console(highlight=False)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(highlight=False, width=_WIDE)


def seed_arg(text: str) -> int:
    """Argparse type: a seed, a whole number from 0 to 2**64 - 1 (no 5000-digit text)."""
    from lbsim.scenario.bounds import BOUNDS

    limit = int(BOUNDS["seed"][0])
    if not text.strip().isdigit() or len(text.strip()) > 20 or int(text) > limit:
        shown = text if len(text) <= 30 else text[:27] + "..."
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {limit}, got {shown!r}"
        )
    return int(text)


def replications_arg(text: str) -> int:
    """Argparse type: replications per grid point, 1 to the bound."""
    from lbsim.scenario.bounds import BOUNDS

    value = positive_int(text)
    limit, reason = BOUNDS["replications"]
    if value > limit:
        raise argparse.ArgumentTypeError(f"must be at most {limit:g}, got {value}: {reason}")
    return value


def positive_int(text: str) -> int:
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


def scenario_options(sub: argparse.ArgumentParser) -> None:
    """Add ``--set`` and ``--seed``, the options of every command that loads a scenario."""
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
        "--seed", type=seed_arg, metavar="N", help="random seed (replaces the scenario's)"
    )


def budget_option(sub: argparse.ArgumentParser) -> None:
    """Add ``--allow-large``, the option of every command that runs a scenario."""
    sub.add_argument(
        "--allow-large",
        action="store_true",
        help="run even when the work estimate is over the budget (see lbsim check)",
    )
