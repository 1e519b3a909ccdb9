"""Reading YAML with limits and YAML 1.2 number rules.

Theory of operation:
    A scenario file is untrusted text: a few hundred bytes of anchors and aliases
    (``&a [*b, *b, ...]`` nested nine deep) stand for billions of nodes once
    expanded, a self-referencing alias (``&a [*a]``) makes an endless structure,
    and thousands of nested brackets exhaust Python's recursion limit inside the
    parser. PyYAML itself has no limits. So reading happens in two passes:

    1. **Scan** the event stream (``yaml.parse``, which is iterative: no
       recursion however deep the nesting) and keep, per open node, its key path
       and the number of nodes it stands for *with every alias expanded*. An alias
       counts the size of the node its anchor names; an alias to a node that is
       still open is a cycle. Past :data:`MAX_DEPTH` levels, :data:`MAX_NODES`
       expanded nodes, :data:`MAX_BYTES` of text or :data:`MAX_DIGITS` digits in a
       whole number, reading stops with a :class:`YamlLimitError` naming the key
       path. Because the expanded size is bounded, anything later that copies the
       data (overrides, validation, hashing) is bounded too.
    2. **Construct** the data with a safe loader (plain data only) whose implicit
       types follow the YAML 1.2 core schema instead of PyYAML's YAML 1.1 rules:
       ``1e3`` is the number 1000 (YAML 1.1 wants ``1.0e+3``), ``010`` is ten (not
       eight), ``0o10`` is eight, ``0x1F`` is hexadecimal, ``1:30`` is text (not
       ninety), only ``true``/``false`` are booleans (``yes``, ``no``, ``on``,
       ``off`` are text) and dates stay text. A key repeated in one mapping is an
       error. The same rules read ``--set`` and ``--grid`` values, so a value
       means the same wherever it is written.

    Reference: YAML 1.2.2 specification, section 10.3 "Core Schema"
    (https://yaml.org/spec/1.2.2/#103-core-schema).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any, Final

import yaml

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_NODES",
    "YamlLimitError",
    "load_yaml",
]

MAX_BYTES: Final = 1_000_000
"""Largest scenario text, in bytes (the bundled scenarios are under 10 kB)."""

MAX_DEPTH: Final = 64
"""Deepest nesting of mappings and lists (the schema itself is under 10 deep)."""

MAX_NODES: Final = 100_000
"""Most nodes the document may stand for with every alias expanded."""

MAX_DIGITS: Final = 30
"""Most digits of a whole number (2**64 has 20): longer ones are refused, not parsed."""


class YamlLimitError(ValueError):
    """The text exceeds a reading limit or is not well-formed in a way PyYAML misses.

    Attributes:
        path: Dotted key path where reading stopped (empty at the top level).
        message: What is wrong and what the limit is.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


# --- YAML 1.2 core schema resolvers and constructors ----------------------------------

_INT_RE: Final = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_RE: Final = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)
_BOOL_RE: Final = re.compile(r"true|True|TRUE|false|False|FALSE")
_NULL_RE: Final = re.compile(r"~|null|Null|NULL|")
_DIGITS: Final = "0123456789"


class _Yaml12Loader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 core-schema scalars and no duplicate keys."""

    yaml_implicit_resolvers = {}  # noqa: RUF012  (start empty: no YAML 1.1 resolvers)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" may legitimately repeat keys
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f'the key "{key}" appears twice',
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # "010" is ten: YAML 1.2 has no implicit octal


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith("inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text.endswith("nan"):
        return float("nan")
    return float(text)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", _BOOL_RE, "tTfF"),
    ("tag:yaml.org,2002:int", _INT_RE, "-+" + _DIGITS),
    ("tag:yaml.org,2002:float", _FLOAT_RE, "-+." + _DIGITS),
    ("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", re.compile(r"<<"), "<"),
):
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(f"(?:{_pattern.pattern})$"), list(_first))
_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


# --- the limits scan ------------------------------------------------------------------


class _Frame:
    """One open mapping or list during the scan."""

    __slots__ = ("anchor", "index", "is_mapping", "key", "size")

    def __init__(self, is_mapping: bool, anchor: str | None) -> None:
        self.is_mapping = is_mapping
        self.anchor = anchor
        self.size = 1
        self.index = 0  # items seen (a mapping: keys and values)
        self.key: str = ""


def _path(stack: list[_Frame]) -> str:
    parts = []
    for frame in stack:
        if frame.is_mapping:
            if frame.index % 2 == 1 or frame.key:
                parts.append(frame.key or "?")
        else:
            parts.append(str(frame.index))
    parts = [part for part in parts if part]
    if len(parts) > 8:  # a deep path would drown the message
        parts = [*parts[:3], f"...({len(parts) - 5} levels)...", *parts[-2:]]
    return ".".join(parts)


_FLOW_TOKEN_RE: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|[\[\]{}]')


_TOP_KEY_RE: Final = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.M)


def _check_flow_depth(text: str) -> None:
    """Refuse deeply nested brackets before PyYAML's scanner sees them.

    The scanner keeps a possible simple key per open flow level and revisits them
    all for every token, so ``[[[[...`` costs time quadratic in the depth. Counting
    brackets outside quoted strings is linear and bounds that cost.
    """
    depth = 0
    for match in _FLOW_TOKEN_RE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                keys = _TOP_KEY_RE.findall(text, 0, match.start())
                raise YamlLimitError(
                    keys[-1] if keys else "",
                    f"brackets nested more than {MAX_DEPTH} levels deep at line {line}; "
                    "a scenario is under 10",
                )
        elif token in "]}":
            depth = max(0, depth - 1)


def _scan(text: str) -> None:
    """Check the limits on the event stream of ``text`` (module docstring, pass 1)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlLimitError(
            "", f"the document is larger than {MAX_BYTES // 1000} kB; a scenario is a few kB"
        )
    _check_flow_depth(text)
    stack: list[_Frame] = []
    sizes: dict[str, int] = {}
    open_anchors: set[str] = set()
    total = 0

    def add(size: int) -> None:
        nonlocal total
        if stack:
            frame = stack[-1]
            frame.size += size
            frame.index += 1
        else:
            total += size
        if (stack[0].size if stack else total) > MAX_NODES:
            raise YamlLimitError(
                _path(stack),
                f"the document stands for more than {MAX_NODES} values once its aliases "
                "(*name) are expanded; an alias bomb? use fewer or smaller aliases",
            )

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.ScalarEvent):
            frame = stack[-1] if stack else None
            is_key = frame is not None and frame.is_mapping and frame.index % 2 == 0
            value = event.value
            if event.style is None and _INT_RE.fullmatch(value):
                digits = len(value.lstrip("+-"))
                if digits > MAX_DIGITS:
                    where = _path(stack) if not is_key else _path(stack[:-1])
                    raise YamlLimitError(
                        where, f"a whole number of {digits} digits; at most {MAX_DIGITS}"
                    )
            if is_key and frame is not None:
                frame.key = value
            if event.anchor is not None:
                sizes[event.anchor] = 1
            add(1)
        elif isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if anchor in open_anchors:
                raise YamlLimitError(
                    _path(stack), f"the alias *{anchor} refers to a node that contains it"
                )
            if stack and stack[-1].is_mapping and stack[-1].index % 2 == 0:
                stack[-1].key = f"*{anchor}"
            add(sizes.get(anchor, 1))  # an unknown alias is the constructor's error
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise YamlLimitError(
                    _path(stack),
                    f"nested more than {MAX_DEPTH} levels deep; a scenario is under 10",
                )
            if stack and stack[-1].is_mapping and stack[-1].index % 2 == 0:
                stack[-1].key = "?"  # a mapping or list used as a key
            frame = _Frame(isinstance(event, yaml.MappingStartEvent), event.anchor)
            stack.append(frame)
            if event.anchor is not None:
                open_anchors.add(event.anchor)
        elif isinstance(event, yaml.CollectionEndEvent):
            frame = stack.pop()
            if frame.anchor is not None:
                open_anchors.discard(frame.anchor)
                sizes[frame.anchor] = frame.size
            add(frame.size)


def load_yaml(text: str) -> Any:
    """Read YAML text within the limits, with YAML 1.2 core-schema scalars.

    Args:
        text: The YAML text (one document).

    Returns:
        Plain data: dicts, lists, str, int, float, bool and None.

    Raises:
        YamlLimitError: Past a limit, or for a self-referencing alias.
        yaml.YAMLError: For a syntax error or a repeated key.
    """
    _scan(text)
    return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass
