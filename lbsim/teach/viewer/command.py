"""``lbsim view`` as functions: its options, and writing the page they ask for.

Theory of operation: the command line registers the sub-command's options itself
(:mod:`lbsim.cli.teach`: importing anything under ``lbsim.teach`` imports the
package, plotting included, which ``lbsim --help`` must not wait for) and calls
:func:`write_view` with the loaded scenario and those options. Choices the
scenario cannot satisfy (an unknown variant or client, a bad window, a page past
the event limit, an output file that cannot be written) raise
:class:`ViewInputError` with one line for the user, which the command line shows
as a bad-input error (exit status 2). The page is written to a temporary file
beside the target and renamed, so an interrupted run never leaves a page that
looks complete.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbsim.scenario import Scenario

__all__ = ["ViewInputError", "ViewWritten", "write_view"]


class ViewInputError(ValueError):
    """A choice the scenario cannot satisfy (one line, for the user)."""


@dataclass(frozen=True)
class ViewWritten:
    """What ``lbsim view`` wrote.

    Attributes:
        path: The page.
        events: Events per variant.
        size: Page size in bytes.
    """

    path: Path
    events: dict[str, int]
    size: int

    @property
    def message(self) -> str:
        """The line the command prints."""
        counts = ", ".join(f"{name}: {n} events" for name, n in self.events.items())
        return f"packet viewer written to {self.path} ({self.size / 1e6:.1f} MB; {counts})\n"


def write_view(scenario: Scenario, args: argparse.Namespace) -> ViewWritten:
    """Build the page ``args`` ask for and write it.

    Raises:
        ViewInputError: On a choice the scenario cannot satisfy (see the module docstring).
    """
    from lbsim.capture.limits import parse_window
    from lbsim.teach.viewer.model import PageTooLarge
    from lbsim.teach.viewer.page import view

    window = None
    if args.window is not None:
        try:
            window = parse_window(args.window)
        except ValueError as exc:
            raise ViewInputError(f"--window: {exc}") from None
    if args.connections is not None and args.connections < 1:
        raise ViewInputError(f"--connections: expected a whole number >= 1, got {args.connections}")
    out = Path(args.out) if args.out is not None else Path(f"{scenario.name}-view.html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ViewInputError(f"--out: {out}: expected a file ending in .html")
    if not out.parent.is_dir():
        raise ViewInputError(f"--out: {out}: directory {out.parent} does not exist")
    try:
        page = view(
            scenario,
            args.variants,
            window=window,
            connections=args.connections,
            client=args.client,
        )
    except PageTooLarge as exc:
        raise ViewInputError(str(exc)) from None
    except KeyError as exc:
        raise ViewInputError(f"--variant: {exc.args[0]}") from None
    except ValueError as exc:
        raise ViewInputError(str(exc)) from None
    data = page.html.encode("utf-8")
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ViewInputError(f"--out: {out}: {exc.strerror or exc}") from None
    return ViewWritten(out, page.events, len(data))
