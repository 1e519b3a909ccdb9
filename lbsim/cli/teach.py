"""The ``lbsim trace`` and ``lbsim view`` sub-commands: one request, packet by packet.

Theory of operation: both commands run the scenario with every segment recorded, so
their work budget counts the segment trace. ``trace`` runs one balancer variant and
prints, for one request, which OSI layers each component on its path read and which
header fields it rewrote (:mod:`lbsim.teach.report`), optionally with a ladder
diagram and the whole connection. ``view`` runs the chosen variants and writes one
self-contained HTML page to step through every packet (:mod:`lbsim.teach.viewer`).
On a scenario with ``topology:`` both follow packets across every tier instance
(:mod:`lbsim.teach.tier_trace`, :mod:`lbsim.teach.viewer.tier_model`). Errors of
the request or variant named on the command line are bad input (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lbsim.cli.common import (
    EXIT_OK,
    BadInput,
    Unwritable,
    budget_option,
    check_budget,
    check_target,
    load,
    need_segment_level,
    os_reason,
    positive_int,
    scenario_options,
)


def add_trace_command(commands: Any) -> None:
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
        "--max-segments", type=positive_int, default=40, metavar="N", help="ladder: at most N"
    )
    trace.add_argument(
        "--connection",
        action="store_true",
        help="also list every segment of its connection, SYN to FIN, with the decisions",
    )
    trace.set_defaults(handler=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    """``lbsim trace``: print the per-hop layer view of one request."""
    scenario = load(args)
    need_segment_level(args, scenario, "lbsim trace")
    check_budget(args, scenario, trace_segments=True, variants=1)
    if args.ladder is not None:
        check_target(Path(args.ladder), folder=False)

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
        raise BadInput(f"{args.scenario}: {exc}") from exc
    except OSError as exc:
        raise Unwritable(f"cannot write the ladder diagram: {os_reason(exc)}") from exc
    sys.stdout.write(report.text)
    if report.ladder is not None:
        sys.stdout.write(f"ladder diagram written to {report.ladder}\n")
    return EXIT_OK


def add_view_command(commands: Any) -> None:
    """``lbsim view``: the step-through packet viewer (lbsim.teach.viewer).

    Nothing under :mod:`lbsim.teach` is imported here: that package imports its
    plotting (matplotlib, pandas), about half a second that every command,
    ``lbsim --help`` included, would wait for while its parser is built.
    """
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
    view.add_argument(
        "--variant",
        dest="variants",
        action="append",
        metavar="NAME",
        help="balancer variant to show; repeatable (default: all, side by side)",
    )
    view.add_argument(
        "--window",
        metavar="T0:T1",
        help="only segments sent in [T0, T1) of simulated time, e.g. 0:2 or 500ms:1.5s",
    )
    view.add_argument(
        "--connections", type=int, metavar="N", help="only the first N client connections"
    )
    view.add_argument(
        "--client", metavar="NAME", help="only one client host, client group or client address"
    )
    view.add_argument(
        "--out", metavar="FILE", type=Path, help="page to write (default: <scenario>-view.html)"
    )
    view.set_defaults(handler=cmd_view)


def cmd_view(args: argparse.Namespace) -> int:
    """``lbsim view``: write the packet viewer page."""
    from lbsim.teach.viewer.command import ViewInputError, write_view

    scenario = load(args)
    need_segment_level(args, scenario, "lbsim view")
    check_budget(args, scenario, trace_segments=True)
    try:
        written = write_view(scenario, args)
    except ViewInputError as exc:
        raise BadInput(f"{args.scenario or 'quickstart'}: {exc}") from exc
    sys.stdout.write(written.message)
    return EXIT_OK
