"""The ``lbsim`` command line: the only package of lbsim that prints.

Theory of operation: :func:`main` parses the arguments with :mod:`argparse` and
dispatches to one function per sub-command. The sub-commands live in modules of
their own: :mod:`lbsim.cli.run` (``run``, ``check``), :mod:`lbsim.cli.sweep`
(``sweep``, ``plot``, ``figures``) and :mod:`lbsim.cli.teach` (``trace``, ``view``);
what they share (exit statuses, errors, loading a scenario, the work budget) is in
:mod:`lbsim.cli.common`, the terminal displays in :mod:`lbsim.cli.display` and the
guarded stdout in :mod:`lbsim.cli.output`. Heavy modules (the engine, pandas,
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

The ``lbsim`` script and ``python -m lbsim`` enter through :func:`console`, which
calls :func:`main` and then freezes the garbage collector (:func:`gc.freeze`) before
the interpreter exits. At exit CPython runs one last full collection over every
object still alive -- after a run, millions of records -- which took 3-5 % of a
``lbsim run``; frozen objects are skipped. Everything else about exit is unchanged
(files are closed by their writers, ``atexit`` and ``weakref.finalize`` handlers
such as the spill area's clean-up still run), so no output can be lost.
:func:`main` itself stays free of it, since tests call it in one long process.

Human-oriented output uses rich: progress on stderr while the variants run, the
comparison table and the output path on stdout. Scenario YAML and error messages
are written verbatim (never through rich markup, which would eat ``[...]``).
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from collections.abc import Sequence
from typing import Any

from lbsim import __version__
from lbsim.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    BadInput,
    Unwritable,
    error,
)
from lbsim.cli.display import ProgressReporter as _ProgressReporter  # noqa: F401 (tests import it)
from lbsim.cli.interrupts import interrupts_held
from lbsim.cli.output import GuardedStdout, printable
from lbsim.cli.run import add_run_commands
from lbsim.cli.sweep import add_sweep_commands
from lbsim.cli.teach import add_trace_command, add_view_command
from lbsim.collector import rare_collections

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "main"]


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
    add_run_commands(commands)
    add_sweep_commands(commands)
    add_trace_command(commands)
    add_view_command(commands)
    return parser


class _Terminated(BaseException):
    """SIGTERM arrived: unwind (temporary files are removed on the way) and exit 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM handler: unwind the command through :class:`_Terminated`."""
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
    try:
        with interrupts_held():  # building the parser imports the sub-commands' modules
            parser = _build_parser()
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    guard = GuardedStdout(sys.stdout)
    original, sys.stdout = sys.stdout, guard
    previous = _catch_sigterm()
    try:
        with rare_collections():  # few collections: see lbsim.collector
            status: int = args.handler(args)
    except BadInput as exc:
        error(str(exc))
        return EXIT_BAD_INPUT
    except Unwritable as exc:
        error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except _Terminated:
        error("terminated")
        return 143
    finally:
        sys.stdout = original
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    failure = guard.failure()
    if failure is not None:
        error(failure)
        return EXIT_FAILURE if status == EXIT_OK else status
    return status


def console() -> int:
    """Entry point of the ``lbsim`` script: :func:`main`, then no collection at exit.

    Returns:
        The exit status of :func:`main`.
    """
    status = main()
    gc.freeze()  # the interpreter's final collection would only walk live objects
    return status
