"""Finding, reading and validating scenario files.

Theory of operation:
    ``load_scenario`` is the one entry point the command line and notebooks use:

    1. find the file: a path, or the name of a bundled scenario (``"stickiness"``),
       or nothing at all for the bundled ``quickstart``;
    2. read it as YAML with a safe loader (plain data only, never Python objects)
       that also refuses duplicate keys, a classic silent mistake, follows the YAML
       1.2 number rules and bounds size, nesting and alias expansion
       (``yamlload.py``);
    3. apply ``--set`` overrides to the raw data, then ``--seed``;
    4. validate into a frozen :class:`Scenario`.

    Every failure on the way (no such file, a YAML syntax error, a bad override, a bad
    value) is raised as one :class:`ScenarioError` naming the file and key path.

    Bundled scenarios live in the repository's top-level ``scenarios/`` folder; a
    built wheel carries them as package data in ``lbsim/_bundled_scenarios/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from lbsim.scenario.errors import ScenarioError, from_validation_error
from lbsim.scenario.overrides import apply_overrides
from lbsim.scenario.schema import Scenario
from lbsim.scenario.yamlload import MAX_BYTES, YamlLimitError, load_yaml

__all__ = [
    "DEFAULT_SCENARIO",
    "bundled_scenarios_dir",
    "list_bundled",
    "load_scenario",
    "parse_scenario",
    "read_scenario_data",
]

DEFAULT_SCENARIO: Final = "quickstart"
"""The bundled scenario used when none is named."""

_SUFFIXES: Final = (".yaml", ".yml")


def bundled_scenarios_dir() -> Path:
    """The folder that holds the bundled scenario files.

    Returns:
        ``lbsim/_bundled_scenarios`` in an installed wheel, else the repository's
        ``scenarios/`` folder (which may not exist).
    """
    here = Path(__file__).resolve()
    installed = here.parents[1] / "_bundled_scenarios"
    if installed.is_dir():
        return installed
    return here.parents[2] / "scenarios"


def list_bundled() -> list[str]:
    """Names of the bundled scenarios, sorted (file names without ``.yaml``).

    Returns:
        The names usable as ``load_scenario(name)``; empty if there are none.
    """
    folder = bundled_scenarios_dir()
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.iterdir() if path.suffix in _SUFFIXES)


def _locate(source: str | Path | None) -> tuple[Path, str]:
    """Find the file for ``source``; returns (path, name to show in messages)."""
    if source is None:
        source = DEFAULT_SCENARIO
    given = Path(source)
    if given.is_file():
        return given, str(source)
    text = str(source)
    if isinstance(source, str) and "/" not in text and "\\" not in text:
        stem = text.removesuffix(".yaml").removesuffix(".yml")
        for suffix in _SUFFIXES:
            bundled = bundled_scenarios_dir() / f"{stem}{suffix}"
            if bundled.is_file():
                return bundled, str(bundled)
    if given.is_dir():
        raise ScenarioError(text, "", "is a folder, expected a scenario file (.yaml)")
    if given.exists():  # /dev/null, /dev/zero, a FIFO, a socket
        raise ScenarioError(
            text, "", "is not a regular file (a device or a pipe); expected a scenario file (.yaml)"
        )
    names = ", ".join(list_bundled()) or "none found"
    raise ScenarioError(text, "", f"file not found (bundled scenarios: {names})")


def _parse_yaml(text: str, file: str) -> dict[str, Any]:
    try:
        data = load_yaml(text)
    except YamlLimitError as exc:
        raise ScenarioError(file, exc.path, exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise ScenarioError(file, "", f"invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, "", f"invalid YAML: {exc}") from None
    if data is None:
        raise ScenarioError(file, "", "the file is empty; expected a mapping of scenario keys")
    if not isinstance(data, dict):
        raise ScenarioError(
            file,
            "",
            f"the top level must be a mapping of keys (name, duration, network, ...), "
            f"got {type(data).__name__}",
        )
    return data


def read_scenario_data(source: str | Path | None = None) -> tuple[dict[str, Any], str]:
    """Find and read a scenario file without validating it.

    Args:
        source: A path, a bundled scenario name, or None for the bundled quickstart.

    Returns:
        The raw data (plain dicts, lists and scalars) and the file name to use in
        error messages.

    Raises:
        ScenarioError: If the file is missing or unreadable, is not valid YAML, or its
            top level is not a mapping.
    """
    path, file = _locate(source)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ScenarioError(
                file, "", f"the file is larger than {MAX_BYTES // 1000} kB; a scenario is a few kB"
            )
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(file, "", "cannot read the file: it is not UTF-8 text") from None
    except OSError as exc:
        raise ScenarioError(file, "", f"cannot read the file: {exc.strerror}") from None
    return _parse_yaml(text, file), file


def parse_scenario(
    data: Mapping[str, Any],
    *,
    source: str = "<scenario>",
    overrides: Sequence[str] = (),
    seed: int | None = None,
) -> Scenario:
    """Validate raw scenario data (as read from YAML) into a :class:`Scenario`.

    Args:
        data: The raw data; it is not modified.
        source: File name used in error messages.
        overrides: ``PATH=VALUE`` overrides, applied before validation.
        seed: If given, replaces the scenario's ``seed`` (after the overrides).

    Returns:
        The validated, fully resolved scenario.

    Raises:
        ScenarioError: For a bad override or an invalid scenario.
    """
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "", "the top level must be a mapping of scenario keys")
    raw = apply_overrides(data, overrides, source)
    if seed is not None:
        raw["seed"] = seed
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise from_validation_error(exc, raw, source, Scenario) from None


def load_scenario(
    source: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    seed: int | None = None,
) -> Scenario:
    """Load, override and validate a scenario file.

    Args:
        source: A path to a YAML file; or the name of a bundled scenario such as
            ``"stickiness"`` (used when no such file exists); or None for the bundled
            ``quickstart``.
        overrides: ``PATH=VALUE`` strings as given to ``--set``, applied in order.
        seed: If given, replaces the scenario's ``seed`` (as ``--seed`` does).

    Returns:
        The validated, fully resolved scenario.

    Raises:
        ScenarioError: For any problem with the file, an override or a value.
    """
    data, file = read_scenario_data(source)
    return parse_scenario(data, source=file, overrides=overrides, seed=seed)
