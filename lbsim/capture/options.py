"""The ``lbsim run --pcap`` options, and captures as part of a run's output directory.

Theory of operation: the command line adds the capture options with
:func:`add_pcap_arguments` and turns them into a :class:`PcapOutput` with
:func:`pcap_from_args` (``None`` when no capture was asked for). A
:class:`PcapOutput` runs the variants with capture taps, writing the pcap files
into a hidden temporary directory next to the output directory (same file system,
so moving them is a rename). :meth:`PcapOutput.write_into` is then handed to
:func:`lbsim.results.write_outputs` as its ``extra`` writer: it moves the files into
the staging directory's ``pcap/``, so the captures appear together with the other
outputs, atomically, or not at all.

This module imports nothing heavy at import time, so ``lbsim --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbsim.capture.limits import CaptureLimits, client_addresses, parse_window

if TYPE_CHECKING:
    from lbsim.scenario import Scenario

__all__ = ["PCAP_DIR", "PcapOutput", "add_pcap_arguments", "pcap_from_args"]

#: Subdirectory of the output directory that holds the captures.
PCAP_DIR = "pcap"


def add_pcap_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--pcap`` and its limit options to an ``lbsim run`` parser."""
    group = parser.add_argument_group(
        "packet capture",
        "Write pcap/<variant>-client.pcap and pcap/<variant>-backend.pcap, captured at "
        "the balancer, for Wireshark (see docs/wireshark.md). Any --pcap-* option "
        "implies --pcap; limits combine.",
    )
    group.add_argument(
        "--pcap", action="store_true", help="capture every variant's traffic to pcap files"
    )
    group.add_argument(
        "--pcap-connections",
        type=int,
        metavar="N",
        help="keep only the first N client connections (and, on the backend side, "
        "what they caused)",
    )
    group.add_argument(
        "--pcap-window",
        metavar="T0:T1",
        help='keep only packets captured from T0 to T1 of simulated time (e.g. "10s:12s")',
    )
    group.add_argument(
        "--pcap-client",
        metavar="NAME",
        help="keep only one client host (e.g. browsers-h3), client group, or client address",
    )


def pcap_from_args(
    args: argparse.Namespace, scenario: Scenario, out_dir: Path
) -> PcapOutput | None:
    """The capture the arguments ask for, or ``None``.

    Args:
        args: Parsed ``lbsim run`` arguments.
        scenario: The loaded scenario (to check the client name).
        out_dir: The run's output directory.

    Raises:
        ValueError: If a limit is invalid; the message is meant for the user.
    """
    wanted = (
        args.pcap
        or args.pcap_connections is not None
        or args.pcap_window is not None
        or args.pcap_client is not None
    )
    if not wanted:
        return None
    if args.pcap_connections is not None and args.pcap_connections < 1:
        raise ValueError(f"--pcap-connections must be at least 1, got {args.pcap_connections}")
    window = None if args.pcap_window is None else parse_window(args.pcap_window)
    if args.pcap_client is not None:
        client_addresses(scenario, args.pcap_client)
    limits = CaptureLimits(
        connections=args.pcap_connections, window=window, client=args.pcap_client
    )
    return PcapOutput(limits, out_dir)


class PcapOutput:
    """Captures made during a run, on their way into the output directory.

    Attributes:
        limits: What the captures keep.
        files: Capture files written so far, by variant.
    """

    def __init__(self, limits: CaptureLimits, out_dir: Path) -> None:
        self.limits = limits
        self._out_dir = Path(out_dir)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.files: dict[str, Any] = {}

    def run(
        self, scenario: Scenario, *, trace_segments: bool = False, progress: Any = None
    ) -> list[Any]:
        """Run every variant with captures (like :func:`lbsim.sim.run_scenario`)."""
        from lbsim.capture.run import capture_scenario

        parent = self._out_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        # Removed by cleanup(), or when the object is collected / the program exits.
        self._tmp = tempfile.TemporaryDirectory(prefix=f".{self._out_dir.name}.pcap-", dir=parent)
        runs, self.files = capture_scenario(
            scenario,
            self._tmp.name,
            limits=self.limits,
            trace_segments=trace_segments,
            progress=progress,
        )
        return runs

    def write_into(self, directory: Path) -> list[Path]:
        """Move the capture files into ``directory/pcap/`` (an ``extra`` writer).

        Returns:
            The paths of the moved files.
        """
        target = Path(directory) / PCAP_DIR
        target.mkdir()
        moved = []
        for files in self.files.values():
            for path in files:
                destination = target / Path(path).name
                try:
                    os.replace(path, destination)
                except OSError:
                    shutil.move(path, destination)
                moved.append(destination)
        self.cleanup()
        return moved

    def cleanup(self) -> None:
        """Delete the temporary directory and anything left in it."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
