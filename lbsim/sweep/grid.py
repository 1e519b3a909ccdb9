"""Parameter grids: ``--grid PATH=V1,V2,...`` texts turned into grid points.

Theory of operation: a grid axis is one scenario key path (dotted, exactly as for
``--set``) and an ordered list of values. Each value stays the *text* the user
wrote, because a grid point is applied to the scenario as ``--set PATH=TEXT``
overrides: the value is then read and validated exactly like one written in the
scenario file, units included (``10ms``, ``80/s``, ``9000``).

The value list is split on commas that are not inside brackets, braces,
parentheses or quotes, so ``lognormal(mean=20ms, cv=0.5)`` stays one value. An
item of the form ``START:STOP:STEP`` (no spaces or brackets) is a range: numbers,
optionally with one unit written after any of the three (``100:1000:100``,
``10ms:50ms:10ms``, ``100:400:100/s``). Ranges include ``STOP`` when the steps land
on it and are computed in decimal arithmetic, so ``0.1:0.3:0.1`` gives exactly
``0.1, 0.2, 0.3``.

Several axes form the cartesian product, first axis slowest (as nested loops in
the order the ``--grid`` options were given). Problems are raised as
:class:`GridError`, a :class:`~lbsim.scenario.ScenarioError` whose "file" is
``--grid``, so the command line prints them like any other bad input.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from lbsim.scenario import ScenarioError
from lbsim.scenario.yamlload import load_yaml

__all__ = [
    "MAX_POINTS",
    "GridAxis",
    "GridError",
    "GridPoint",
    "expand_grid",
    "parse_grid",
    "parse_range",
    "split_values",
]

#: Most values one range may produce, and most points a whole grid may have.
MAX_POINTS = 10_000

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_UNIT = r"[A-Za-zµμ/][A-Za-zµμ/0-9]*"
_RANGE_RE = re.compile(rf"({_NUMBER})({_UNIT})?")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_QUOTES = "'\""


class GridError(ScenarioError):
    """A malformed ``--grid`` option, printed as ``--grid: PATH: problem``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__("--grid", path, message)


@dataclass(frozen=True)
class GridAxis:
    """One swept scenario key and its values.

    Attributes:
        path: Dotted scenario key path (``clients.browsers.count``).
        values: The values as text, in sweep order, each usable as ``PATH=TEXT``.
    """

    path: str
    values: tuple[str, ...]

    def parsed(self, text: str) -> Any:
        """The value as YAML reads it (``"200"`` -> 200; ``"10ms"`` stays text)."""
        return parse_value(text)

    @property
    def spec(self) -> str:
        """The axis written back as a ``--grid`` option value."""
        return f"{self.path}={','.join(self.values)}"


@dataclass(frozen=True)
class GridPoint:
    """One combination of axis values.

    Attributes:
        index: Position in the grid (0-based, first axis slowest).
        values: ``(path, text)`` pairs, one per axis, in axis order.
    """

    index: int
    values: tuple[tuple[str, str], ...]

    def overrides(self) -> list[str]:
        """The point as ``PATH=TEXT`` overrides."""
        return [f"{path}={text}" for path, text in self.values]

    def label(self) -> str:
        """Short text naming the point (``a=1, b=2``; ``(no grid)`` when empty)."""
        return ", ".join(self.overrides()) or "(no grid)"


def parse_value(text: str) -> Any:
    """Read one grid value as YAML; anything but a plain scalar stays text.

    Args:
        text: The value as written.

    Returns:
        An int, float, bool or None when YAML reads it so, otherwise ``text``.
    """
    try:
        value = load_yaml(text)
    except (yaml.YAMLError, ValueError):
        return text
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return text


def split_values(text: str) -> list[str]:
    """Split a value list on commas outside brackets, parentheses, braces and quotes.

    Args:
        text: ``V1,V2,...`` as given after ``PATH=``.

    Returns:
        The items, stripped of surrounding whitespace (empty items kept, so the
        caller can report them).
    """
    items: list[str] = []
    closers: list[str] = []
    quote = ""
    current: list[str] = []
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in _QUOTES:
            quote = char
        elif char in _OPENERS:
            closers.append(_OPENERS[char])
        elif closers and char == closers[-1]:
            closers.pop()
        elif char == "," and not closers:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return items


def _looks_like_range(item: str) -> bool:
    """Whether an item is meant as ``START:STOP:STEP`` (a colon, no spaces or brackets)."""
    return ":" in item and not any(c.isspace() or c in "()[]{}'\"" for c in item)


def _decimal_text(value: Decimal) -> str:
    """A decimal written plainly: ``Decimal("1E+2")`` -> ``"100"``, ``0.50`` -> ``"0.5"``."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text


def parse_range(item: str, path: str = "") -> list[str]:
    """Expand ``START:STOP:STEP`` into value texts.

    Args:
        item: The range text, e.g. ``100:1000:100`` or ``10ms:50ms:10ms``.
        path: The axis path, for error messages.

    Returns:
        ``START, START+STEP, ...`` up to and including ``STOP`` when a step lands
        on it, each followed by the range's unit if it has one.

    Raises:
        GridError: If the text is not three numbers with at most one unit, the step
            is zero or points away from ``STOP``, or the range is too long.
    """
    shape = f'malformed range "{item}": expected START:STOP:STEP such as 100:1000:100'
    parts = item.split(":")
    if len(parts) != 3:
        raise GridError(path, shape)
    numbers: list[Decimal] = []
    units: set[str] = set()
    for part in parts:
        match = _RANGE_RE.fullmatch(part.strip())
        if match is None:
            raise GridError(path, shape)
        try:
            numbers.append(Decimal(match.group(1)))
        except InvalidOperation:  # pragma: no cover - the regex admits only numbers
            raise GridError(path, shape) from None
        if match.group(2):
            units.add(match.group(2))
    if len(units) > 1:
        shown = ", ".join(sorted(units))
        raise GridError(path, f'range "{item}" mixes units ({shown}); use one unit')
    unit = units.pop() if units else ""
    start, stop, step = numbers
    if step == 0:
        raise GridError(path, f'range "{item}": the step must not be 0')
    if (stop - start) * step < 0:
        raise GridError(
            path, f'range "{item}" is empty: the step goes away from STOP (use a negative step?)'
        )
    count = int((stop - start) / step) + 1
    if count > MAX_POINTS:
        raise GridError(path, f'range "{item}" has {count} values; at most {MAX_POINTS}')
    return [_decimal_text(start + k * step) + unit for k in range(count)]


def parse_grid(text: str) -> GridAxis:
    """Parse one ``--grid PATH=V1,V2,...`` option.

    Args:
        text: The option value.

    Returns:
        The axis.

    Raises:
        GridError: If ``=`` or the path is missing, a path part is empty, a value is
            empty, a range is malformed, or a value appears twice.
    """
    path, separator, rest = text.partition("=")
    path = path.strip()
    if not separator or not path:
        raise GridError(
            path, f'expected PATH=V1,V2,... (e.g. clients.browsers.count=50,100), got "{text}"'
        )
    if any(not part.strip() for part in path.split(".")):
        raise GridError(path, "the path has an empty part (check the dots)")
    path = ".".join(part.strip() for part in path.split("."))
    if path == "seed":
        raise GridError(
            path, "the seed is not swept: use --replications (and --seed for the first one)"
        )
    values: list[str] = []
    for item in split_values(rest):
        if not item:
            raise GridError(path, f'empty value in "{rest}" (check the commas)')
        values.extend(parse_range(item, path) if _looks_like_range(item) else [item])
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise GridError(path, f'the value "{value}" appears twice')
        seen.add(value)
    return GridAxis(path, tuple(values))


def expand_grid(axes: list[GridAxis] | tuple[GridAxis, ...]) -> list[GridPoint]:
    """All combinations of the axes' values, first axis slowest.

    Args:
        axes: The axes, in ``--grid`` order; none gives one empty point.

    Returns:
        The grid points with their indices.

    Raises:
        GridError: If a path is swept twice or the grid has too many points.
    """
    paths = [axis.path for axis in axes]
    for index, path in enumerate(paths):
        if path in paths[:index]:
            raise GridError(path, "swept twice; give all its values in one --grid")
    size = 1
    for axis in axes:
        size *= len(axis.values)
    if size > MAX_POINTS:
        raise GridError(paths[0], f"the grid has {size} points; at most {MAX_POINTS}")
    combos = itertools.product(*(axis.values for axis in axes))
    return [
        GridPoint(index, tuple(zip(paths, combo, strict=True)))
        for index, combo in enumerate(combos)
    ]
