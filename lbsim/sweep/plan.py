"""A sweep plan: the scenario, its grid, the replications, and the runs they make.

Theory of operation: :meth:`SweepPlan.load` reads the scenario file once, keeps its
raw data (plain dicts and lists, as YAML gave them), and checks *every* grid point
up front by validating the scenario with the point's overrides, so a typo in a
grid path or value stops the sweep before anything runs or is written.

A run is one grid point × one replication: a :class:`RunTask`. It carries the raw
scenario data, the overrides and the seed, never a live scenario object, so it
pickles cheaply and the worker that receives it (a local process or a Dask
worker on another machine) needs no access to the scenario file. The worker
validates the scenario again and runs every balancer variant on it: the variants
of one run share the workload (common random numbers).

Replication seeds: replication 0 runs on the scenario's own seed (after
``--seed``), so a one-replication sweep reproduces ``lbsim run`` exactly;
replication ``r >= 1`` runs on ``stream_seed(seed, "replication", r) mod 2**31``,
a BLAKE2b hash, so the seeds of different replications never collide by
arithmetic accident (as ``seed + r`` would between sweeps with neighbouring base
seeds). Every grid point uses the same replication seeds, so the points of one
replication also share their random workload and their differences come from the
swept parameter.

A run's identity (:attr:`RunTask.key`) is its grid values and replication seed, not
its position, so a sweep resumed with more points or more replications
recognises the runs it already has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbsim.scenario import Scenario, ScenarioError, parse_scenario, read_scenario_data
from lbsim.streams import stream_seed
from lbsim.sweep.grid import GridAxis, GridError, GridPoint, expand_grid, parse_grid

__all__ = ["RunTask", "SweepPlan", "replication_seed", "run_key"]


def replication_seed(seed: int, replication: int) -> int:
    """The seed of replication ``replication`` of a sweep whose scenario seed is ``seed``.

    Args:
        seed: The scenario's seed (after ``--seed``).
        replication: 0, 1, 2, ...

    Returns:
        ``seed`` itself for replication 0, else
        ``stream_seed(seed, "replication", replication) % 2**31``.
    """
    if replication == 0:
        return seed
    return stream_seed(seed, "replication", replication) % 2**31


def run_key(values: Sequence[tuple[str, str]] | Mapping[str, str], seed: int) -> str:
    """Identity of a run: its grid values (in path order) and its seed, as text."""
    pairs = sorted(dict(values).items())
    return json.dumps([pairs, seed], separators=(",", ":"))


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: a grid point and a replication; picklable.

    Attributes:
        source: Scenario file name, for error messages.
        data: Raw scenario data (never modified).
        overrides: Base ``--set`` overrides followed by the point's.
        seed: Seed of this replication.
        point: The grid point.
        replication: Replication index.
    """

    source: str
    data: Mapping[str, Any] = field(repr=False)
    overrides: tuple[str, ...]
    seed: int
    point: GridPoint
    replication: int

    @property
    def key(self) -> str:
        """See :func:`run_key`."""
        return run_key(self.point.values, self.seed)

    def scenario(self) -> Scenario:
        """The validated scenario of this run."""
        return parse_scenario(
            self.data, source=self.source, overrides=self.overrides, seed=self.seed
        )

    def label(self) -> str:
        """Text naming the run for messages."""
        return f"{self.point.label()}, replication {self.replication} (seed {self.seed})"


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: what to run, not how.

    Attributes:
        source: Scenario file name as shown in messages.
        data: Raw scenario data.
        name: Scenario name.
        seed: Base seed (the scenario's, or ``--seed``).
        overrides: Base ``--set`` overrides.
        axes: Grid axes, in ``--grid`` order.
        replications: Replications per grid point.
        variants: Balancer variant names, in scenario order.
    """

    source: str
    data: Mapping[str, Any] = field(repr=False)
    name: str
    seed: int
    overrides: tuple[str, ...]
    axes: tuple[GridAxis, ...]
    replications: int
    variants: tuple[str, ...]

    @classmethod
    def load(
        cls,
        scenario: str | Path | None,
        grid: Sequence[str | GridAxis] = (),
        *,
        overrides: Sequence[str] = (),
        seed: int | None = None,
        replications: int = 1,
        allow_large: bool = True,
    ) -> SweepPlan:
        """Read a scenario, parse the grid, and validate every grid point.

        Args:
            scenario: Scenario file, bundled scenario name, or None for quickstart.
            grid: ``PATH=V1,V2,...`` texts (or parsed axes).
            overrides: ``--set`` overrides applied to every run, before the grid's.
            seed: Replaces the scenario's seed (the seed of replication 0).
            replications: Runs per grid point, at least 1.
            allow_large: When false, refuse a grid point whose run, or a sweep whose
                total work, is over the budget (:mod:`lbsim.budget`).

        Returns:
            The plan.

        Raises:
            ScenarioError: For a bad scenario, override, grid option, or a grid
                point whose values the scenario rejects (the message names the
                ``--grid`` option or point).
            ValueError: If ``replications`` is below 1.
        """
        if replications < 1:
            raise ValueError(f"replications must be at least 1, got {replications}")
        data, source = read_scenario_data(scenario)
        base = parse_scenario(data, source=source, overrides=overrides, seed=seed)
        try:
            _check_buildable(base)
        except ScenarioError as exc:
            raise ScenarioError(source, exc.path, exc.message) from None
        axes = tuple(a if isinstance(a, GridAxis) else parse_grid(a) for a in grid)
        points = expand_grid(axes)
        checked: list[tuple[Scenario, str]] = [] if axes else [(base, "(no grid)")]
        for axis in axes:  # one axis at a time: the error can name its --grid option
            seen: dict[str, str] = {}
            for text in axis.values:
                at_value = _check(
                    data, source, [*overrides, f"{axis.path}={text}"], seed, f"--grid {axis.spec}"
                )
                resolved = at_value.to_yaml()
                if resolved in seen:  # "1", "01" and "0x1" are one value: refuse repeats
                    raise GridError(
                        axis.path,
                        f'the values "{seen[resolved]}" and "{text}" give the same scenario; '
                        "give each value once",
                    )
                seen[resolved] = text
                checked.append((at_value, f"{axis.path}={text}"))
        if len(axes) > 1:
            checked = []
            for point in points:
                overridden = [*overrides, *point.overrides()]
                at_point = _check(data, source, overridden, seed, point.label())
                checked.append((at_point, point.label()))
        if not allow_large:
            _check_budget(source, checked, len(points) * replications)
        return cls(
            source=source,
            data=data,
            name=base.name,
            seed=base.seed,
            overrides=tuple(overrides),
            axes=axes,
            replications=replications,
            variants=tuple(b.name for b in base.balancers),
        )

    def points(self) -> list[GridPoint]:
        """The grid points, first axis slowest."""
        return expand_grid(self.axes)

    def seeds(self) -> list[int]:
        """The replication seeds, by replication index."""
        return [replication_seed(self.seed, r) for r in range(self.replications)]

    def tasks(self) -> list[RunTask]:
        """Every run, grid point by grid point, replications innermost."""
        seeds = self.seeds()
        return [
            RunTask(
                source=self.source,
                data=self.data,
                overrides=(*self.overrides, *point.overrides()),
                seed=seeds[r],
                point=point,
                replication=r,
            )
            for point in self.points()
            for r in range(self.replications)
        ]

    def fingerprint(self) -> str:
        """Hash of what every run shares: scenario data, base overrides and seed.

        Two plans with the same fingerprint produce the same run for the same grid
        values and replication, so a sweep directory may be resumed by either.
        """
        text = json.dumps(
            [self.data, list(self.overrides), self.seed],
            sort_keys=True,
            default=str,
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode()).hexdigest()


def _check(
    data: Mapping[str, Any], source: str, overrides: list[str], seed: int | None, where: str
) -> Scenario:
    """Validate the scenario with ``overrides``; name ``where`` in the error."""
    try:
        scenario = parse_scenario(data, source=source, overrides=overrides, seed=seed)
        _check_buildable(scenario)
        return scenario
    except ScenarioError as exc:
        message = exc.message.replace("--set:", "--grid:")
        file = source if exc.file == "<scenario>" else exc.file
        raise ScenarioError(file, exc.path, f"{message} (in {where})") from None


def _check_budget(source: str, checked: list[tuple[Scenario, str]], runs: int) -> None:
    """Refuse a grid point over the run budget, or a sweep over the sweep budget."""
    from lbsim.budget import estimate, over_budget, sweep_over_budget

    largest = 0.0
    for scenario, label in checked:
        work = estimate(scenario)
        verdict = over_budget(work)
        if verdict is not None:
            raise ScenarioError(source, "", f"{verdict} (in {label})")
        largest = max(largest, work.segments)
    verdict = sweep_over_budget(largest, runs)
    if verdict is not None:
        raise ScenarioError(source, "", verdict)


def _check_buildable(scenario: Scenario) -> None:
    """Run the engine's build-time checks (algorithm parameters), when it has them."""
    from lbsim import sim

    check = getattr(sim, "check_buildable", None)
    if check is not None:
        check(scenario)
