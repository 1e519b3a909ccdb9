"""``--set PATH=VALUE`` overrides applied to a raw scenario before validation.

Theory of operation:
    An override edits the plain data read from YAML, before the schema sees it, so an
    overridden value is validated exactly like one written in the file (and an error
    names the same key path). ``PATH`` is dotted (see ``paths.py``): mapping keys, and
    list items by name/group or position, as in ``balancers.l7.algorithm`` or
    ``clients.0.count``. ``VALUE`` is read as a one-line YAML value (with the same
    rules and limits as a file, ``yamlload.py``), so ``200`` is a
    number, ``random`` is text, ``[a, b]`` a list and ``{latency: 1ms}`` a mapping.

    Setting a key that does not exist yet is allowed, and missing intermediate
    mappings are created (``--set tcp.initial_window=4`` works without a ``tcp``
    section); whether the key is valid is the schema's decision. A list item that does
    not exist is an error, because we cannot guess what the new item should be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from lbsim.scenario.errors import ScenarioError
from lbsim.scenario.paths import find_item
from lbsim.scenario.yamlload import YamlLimitError, load_yaml

__all__ = ["apply_overrides", "parse_override", "plain_copy"]


def plain_copy(value: object) -> Any:
    """Deep-copy a tree of mappings and sequences into plain dicts and lists.

    Args:
        value: Raw scenario data (any mappings, lists or tuples, and scalars).

    Returns:
        An independent copy made of ``dict``, ``list`` and the original scalars.
    """
    if isinstance(value, Mapping):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(item) for item in value]
    return value


def parse_override(text: str, source: str = "<scenario>") -> tuple[list[str], Any]:
    """Split ``PATH=VALUE`` into path segments and the YAML-parsed value.

    Args:
        text: One override as given to ``--set``.
        source: File name for error messages.

    Returns:
        The path segments and the value.

    Raises:
        ScenarioError: If there is no ``=``, the path has an empty segment, or the value
            is not a valid one-line YAML value.
    """
    path, separator, raw_value = text.partition("=")
    path = path.strip()
    if not separator or not path:
        raise ScenarioError(
            source,
            path,
            f'--set expects PATH=VALUE (e.g. clients.browsers.count=200), got "{text}"',
        )
    segments = path.split(".")
    if any(not segment.strip() for segment in segments):
        raise ScenarioError(source, path, "--set: the path has an empty part (check the dots)")
    try:
        value = load_yaml(raw_value)
    except YamlLimitError as exc:
        raise ScenarioError(source, path, f"--set: {exc}") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not a valid YAML value"
        raise ScenarioError(
            source, path, f'--set: cannot read the value "{raw_value}": {problem}'
        ) from None
    return [segment.strip() for segment in segments], value


def _set(data: dict[str, Any], segments: list[str], value: Any, path: str, source: str) -> None:
    node: Any = data
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        where = ".".join(segments[:depth]) or "the top level"
        if isinstance(node, dict):
            if last:
                node[segment] = value
            elif node.get(segment) is None:  # create the missing mapping on the way
                node[segment] = {}
                node = node[segment]
            else:
                node = node[segment]
        elif isinstance(node, list):
            try:
                index = find_item(node, segment)
            except LookupError as exc:
                raise ScenarioError(source, path, f"--set: in {where}: {exc}") from None
            if last:
                node[index] = value
            else:
                node = node[index]
        else:
            raise ScenarioError(
                source,
                path,
                f"--set: {where} is a single value, not a mapping or a list, "
                f'so it has no "{segment}"',
            )


def apply_overrides(
    data: Mapping[str, Any], overrides: Sequence[str], source: str = "<scenario>"
) -> dict[str, Any]:
    """Apply ``PATH=VALUE`` overrides to a copy of raw scenario data.

    Args:
        data: Raw scenario data (not modified).
        overrides: Overrides in order; a later one wins over an earlier one.
        source: File name for error messages.

    Returns:
        A deep copy of ``data`` (plain dicts and lists) with the overrides applied.

    Raises:
        ScenarioError: For a malformed override or a path that leads nowhere; ``path``
            is the override's path and the message mentions ``--set``.
    """
    if isinstance(overrides, str):
        raise TypeError("overrides must be a sequence of PATH=VALUE strings, not one string")
    result: dict[str, Any] = plain_copy(data)
    for text in overrides:
        segments, value = parse_override(text, source)
        _set(result, segments, value, ".".join(segments), source)
    return result
