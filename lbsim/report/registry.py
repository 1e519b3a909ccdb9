"""The report figure registry: one entry per figure, data needs declared, not computed.

Theory of operation: a report figure is a :class:`ReportFigure`: a file name, a
one-line caption, the data it needs, and a function that draws it from that data.
Data needs are values, not code: a :class:`RunData` is one ``lbsim run`` (a
scenario, overrides, a seed), a :class:`SweepData` one ``lbsim sweep`` (a scenario,
grid options, replications). Because they are frozen and comparable, the builder
(``build.py``) can collect the needs of every figure, compute each distinct one
once, fan all runs out over one executor, and write the command that reproduces
each figure's data into ``figures/README.md``.

Adding a figure is adding one entry::

    @REGISTRY.figure(
        "tls_cost",
        caption="...",
        data={"sweep": SweepData("tls", grid=("clients.web.tls=false,true",))},
    )
    def _tls_cost(inputs: Inputs) -> Figure:
        return some_plot(inputs.sweep("sweep"), ...)

Entries appear in the report in registration order.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results
    from lbsim.sweep.plan import SweepPlan
    from lbsim.sweep.tables import SweepTable

__all__ = [
    "REGISTRY",
    "DataSpec",
    "FigureRegistry",
    "Inputs",
    "ReportFigure",
    "RunData",
    "SweepData",
]


def _set_options(overrides: tuple[str, ...]) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


@dataclass(frozen=True)
class RunData:
    """One run of a scenario (all its variants), as ``lbsim run`` makes it.

    Attributes:
        scenario: Bundled scenario name or file path.
        overrides: ``--set`` overrides.
        seed: Seed replacing the scenario's, if any.
    """

    scenario: str
    overrides: tuple[str, ...] = ()
    seed: int | None = None

    def command(self) -> str:
        """The ``lbsim run`` command that produces this data."""
        seed = ["--seed", str(self.seed)] if self.seed is not None else []
        return shlex.join(["lbsim", "run", self.scenario, *_set_options(self.overrides), *seed])


@dataclass(frozen=True)
class SweepData:
    """A sweep, as ``lbsim sweep`` makes it.

    Attributes:
        scenario: Bundled scenario name or file path.
        grid: ``--grid`` option values (``PATH=V1,V2,...``).
        overrides: ``--set`` overrides applied to every run.
        replications: Runs per grid point.
        seed: Seed replacing the scenario's, if any.
    """

    scenario: str
    grid: tuple[str, ...]
    overrides: tuple[str, ...] = ()
    replications: int = 1
    seed: int | None = None

    def plan(self) -> SweepPlan:
        """The validated sweep plan."""
        from lbsim.sweep.plan import SweepPlan

        return SweepPlan.load(
            self.scenario,
            list(self.grid),
            overrides=list(self.overrides),
            seed=self.seed,
            replications=self.replications,
        )

    def command(self, out: str = "sweep") -> str:
        """The ``lbsim sweep`` command that produces this data into ``out``."""
        grid = [part for spec in self.grid for part in ("--grid", spec)]
        reps = ["--replications", str(self.replications)] if self.replications != 1 else []
        seed = ["--seed", str(self.seed)] if self.seed is not None else []
        return shlex.join(
            [
                "lbsim",
                "sweep",
                self.scenario,
                *grid,
                *_set_options(self.overrides),
                *reps,
                *seed,
                "--out",
                out,
            ]
        )


#: A figure's data need.
DataSpec = RunData | SweepData


@dataclass(frozen=True)
class Inputs:
    """The computed data of one figure, by the names its entry gave them.

    Attributes:
        runs: Name -> results of a :class:`RunData`.
        sweeps: Name -> table of a :class:`SweepData`.
    """

    runs: Mapping[str, Results] = field(default_factory=dict)
    sweeps: Mapping[str, SweepTable] = field(default_factory=dict)

    def run(self, name: str) -> Results:
        """Results of the run named ``name``."""
        return self.runs[name]

    def sweep(self, name: str) -> SweepTable:
        """Table of the sweep named ``name``."""
        return self.sweeps[name]


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report.

    Attributes:
        name: File stem (``latency_cdf`` gives ``latency_cdf.png`` and ``.svg``).
        caption: One-line caption for ``figures/README.md``.
        data: Name -> data need.
        draw: Draws the figure from the computed data.
    """

    name: str
    caption: str
    data: Mapping[str, DataSpec]
    draw: Callable[[Inputs], Figure]

    def commands(self) -> list[str]:
        """Commands that reproduce the figure's data, one per need."""
        return [
            spec.command() if isinstance(spec, RunData) else spec.command(f"sweeps/{self.name}")
            for spec in self.data.values()
        ]


class FigureRegistry:
    """Report figures by name, in registration order."""

    def __init__(self) -> None:
        self._figures: dict[str, ReportFigure] = {}

    def add(self, figure: ReportFigure) -> ReportFigure:
        """Register ``figure``.

        Raises:
            ValueError: If a figure of that name is already registered.
        """
        if figure.name in self._figures:
            raise ValueError(f"a report figure named {figure.name!r} is already registered")
        self._figures[figure.name] = figure
        return figure

    def figure(
        self, name: str, *, caption: str, data: Mapping[str, DataSpec]
    ) -> Callable[[Callable[[Inputs], Figure]], Callable[[Inputs], Figure]]:
        """Decorator registering a draw function as figure ``name``."""

        def register(draw: Callable[[Inputs], Figure]) -> Callable[[Inputs], Figure]:
            self.add(ReportFigure(name, caption, dict(data), draw))
            return draw

        return register

    def names(self) -> list[str]:
        """Figure names in order."""
        return list(self._figures)

    def __getitem__(self, name: str) -> ReportFigure:
        return self._figures[name]

    def __iter__(self) -> Iterator[ReportFigure]:
        return iter(list(self._figures.values()))

    def __len__(self) -> int:
        return len(self._figures)


#: The report's figures (filled by ``lbsim.report.catalog``).
REGISTRY = FigureRegistry()
