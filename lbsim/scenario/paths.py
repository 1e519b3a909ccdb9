"""Dotted key paths into a raw scenario tree: ``clients.browsers.count``.

Theory of operation:
    Users meet key paths twice: in error messages (``clients.browsers.count: ...``)
    and in ``--set`` overrides (``--set clients.browsers.count=200``). Both use the
    same language, so a path copied from an error can be pasted into ``--set``.

    A path is a list of segments joined by dots. In a mapping a segment is a key; in a
    list it names an item by its identity (the item's ``name``, or ``group`` for items
    without a name) or, failing that, by its position (0, 1, ...). An item is labelled
    by its identity only when no sibling shares it; otherwise by its position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

__all__ = [
    "IDENTITY_KEYS",
    "find_item",
    "format_path",
    "identity",
    "is_validation_tag",
    "item_label",
]

IDENTITY_KEYS: Final = ("name", "group")
"""Keys that identify a list item, in order of preference."""

_NAME_RE: Final = re.compile(r"[A-Za-z0-9_-]+")  # a name that can stand in a dotted path


def identity(item: object) -> str | None:
    """The identity of a list item: its ``name``, else its ``group``, else None.

    Only names made of letters, digits, ``_`` and ``-`` count, so that an identity can
    always be written inside a dotted path.

    Args:
        item: A raw list element (usually a mapping).

    Returns:
        The identity as text, or None when the item has none.
    """
    if isinstance(item, Mapping):
        for key in IDENTITY_KEYS:
            value = item.get(key)
            if isinstance(value, str) and _NAME_RE.fullmatch(value):
                return value
    return None


def item_label(items: Sequence[object], index: int) -> str:
    """The path segment for ``items[index]``: its identity if unique, else its index.

    Args:
        items: The list that holds the item.
        index: The item's position.

    Returns:
        A path segment.
    """
    if 0 <= index < len(items):
        name = identity(items[index])
        if name is not None and sum(identity(other) == name for other in items) == 1:
            return name
    return str(index)


def find_item(items: Sequence[object], segment: str) -> int:
    """Resolve a path segment to a list position.

    Args:
        items: The list to search.
        segment: An item identity (``name``/``group``) or a position.

    Returns:
        The position of the item.

    Raises:
        LookupError: If nothing matches, or the identity is shared by several items;
            the message lists what is available.
    """
    matches = [index for index, item in enumerate(items) if identity(item) == segment]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise LookupError(f'{len(matches)} items are named "{segment}"; use a position instead')
    if segment.isdigit() and int(segment) < len(items):
        return int(segment)
    raise LookupError(f'no item "{segment}" (available: {_available(items)})')


def _available(items: Sequence[object]) -> str:
    if not items:
        return "none, the list is empty"
    return ", ".join(item_label(items, index) for index in range(len(items)))


_TAGS: Final = frozenset(
    {"bool", "int", "float", "str", "list", "dict", "tuple", "none", "is-instance", "lax-or-strict"}
)


def is_validation_tag(part: object) -> bool:
    """Whether a location part is pydantic's name for a union member, not a key."""
    return isinstance(part, str) and (part in _TAGS or "[" in part)


def format_path(data: object, loc: Iterable[str | int]) -> str:
    """Spell a location (keys and list positions) as a dotted path, naming list items.

    Args:
        data: The raw tree the location points into; used to find item names.
        loc: Keys and positions, e.g. ``("clients", 0, "count")``.

    Returns:
        The dotted path, e.g. ``"clients.browsers.count"``.
    """
    node: object = data
    segments: list[str] = []
    parts = list(loc)
    skip_pair_element = False
    for part in parts:
        if skip_pair_element:  # (name, value) of a mapping stored as pairs: 0 or 1
            skip_pair_element = False
            if part in (0, 1):
                if part == 0:
                    node = None
                continue
        if is_validation_tag(part) and not (isinstance(node, Mapping) and part in node):
            continue  # pydantic's name of a union member ("bool", "function-after[...]")
        if isinstance(part, int) and isinstance(node, Sequence) and not isinstance(node, str):
            segments.append(item_label(node, part))
            node = node[part] if 0 <= part < len(node) else None
        elif isinstance(part, int) and isinstance(node, Mapping):  # sorted (key, value) pairs
            keys = sorted(node, key=str)
            key = keys[part] if 0 <= part < len(keys) else part
            segments.append(str(key))
            node = node.get(key)
            skip_pair_element = True
        elif isinstance(node, Mapping):
            segments.append(str(part))
            node = node.get(part)
        else:
            segments.append(str(part))
            node = None
    return ".".join(segments)
