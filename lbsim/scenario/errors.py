"""One-line, human error messages for bad scenario input.

Theory of operation:
    Whatever goes wrong with a scenario (an unreadable file, bad YAML, an unknown key,
    a missing unit, a bad override), the user gets one :class:`ScenarioError` whose
    text is a single line ``FILE: KEY.PATH: what is expected``, ready for the command
    line to print without a traceback.

    Validation is done by pydantic, whose errors carry a location tuple such as
    ``("clients", 0, "count")`` and terse, multi-line text. :func:`from_validation_error`
    takes the first error, spells its location with item names from the raw data
    (``clients.browsers.count``, see ``paths.py``), and rewrites the message for people:
    unknown keys list the keys that are allowed, type errors say what was expected.

    Validators that check a combination of keys (say ``routes`` on a layer-4 balancer)
    run on a whole model, so pydantic would place their error at the model. They raise
    :class:`KeyedValueError` instead, which carries the key path below the model that
    the message is about.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from lbsim.scenario.paths import format_path, is_validation_tag
from lbsim.scenario.units import show_value

__all__ = ["KeyedValueError", "ScenarioError", "from_validation_error"]


class ScenarioError(Exception):
    """Bad scenario input, reported as ``"{file}: {path}: {message}"`` on one line.

    Attributes:
        file: The scenario file (or ``"<scenario>"`` for data given in Python).
        path: Dotted key path of the offending value (``clients.browsers.count``);
            empty when the problem is not about one key (a YAML syntax error).
        message: What is wrong and what is expected.
    """

    def __init__(self, file: str, path: str, message: str) -> None:
        super().__init__(file, path, message)
        self.file = file
        self.path = path
        self.message = re.sub(r"\s*[\r\n]+\s*", " ", message).strip()  # always one line

    def __str__(self) -> str:
        if self.path:
            return f"{self.file}: {self.path}: {self.message}"
        return f"{self.file}: {self.message}"


class KeyedValueError(ValueError):
    """A validation problem about a key below the model whose validator raised it.

    Args:
        key: Key path below the model, as a dotted string or a tuple of keys and list
            positions, e.g. ``("routes", 0, "group")``.
        message: What is wrong.
    """

    def __init__(self, key: str | tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.key: tuple[str | int, ...] = tuple(key.split(".")) if isinstance(key, str) else key
        self.message = message


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """Pydantic model classes mentioned in a type annotation (through tuples, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for argument in typing.get_args(annotation):
            found.extend(_models_in(argument))
    return found


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that validates the value at ``loc`` (None if not a model)."""
    model = root
    for part in loc:
        if isinstance(part, int):
            continue  # a list position: the item model is the one we already hold
        field = model.model_fields.get(part)
        if field is None:
            return None
        nested = _models_in(field.annotation)
        if not nested:
            return None
        model = nested[0]
    return model


def _keys_of(model: type[BaseModel] | None) -> str:
    return ", ".join(model.model_fields) if model is not None else ""


def _unknown_key(key: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return f'unknown key "{key}"'
    allowed = list(model.model_fields)
    near = difflib.get_close_matches(key, allowed, n=1)
    advice = f'did you mean "{near[0]}"? ' if near else ""
    return f'unknown key "{key}" ({advice}expected one of: {", ".join(allowed)})'


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _quote_expected(expected: str) -> str:
    return expected.replace("'", '"')


def _human_message(error: ErrorDetails, model: type[BaseModel] | None) -> str:
    """Rewrite one pydantic error for people."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    got = show_value(error.get("input"))
    if kind == "missing":
        return "missing required key"
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, KeyedValueError):
            return cause.message
        return str(cause) if cause is not None else error["msg"]
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if kind == "string_type":
        return f"expected text, got {got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "greater_than":
        return f"must be greater than {_number(ctx['gt'])}, got {got}"
    if kind == "greater_than_equal":
        return f"must be at least {_number(ctx['ge'])}, got {got}"
    if kind == "less_than":
        return f"must be less than {_number(ctx['lt'])}, got {got}"
    if kind == "less_than_equal":
        return f"must be at most {_number(ctx['le'])}, got {got}"
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return f"must have at least {count} item{'s' if count != 1 else ''}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {got}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        keys = _keys_of(model)
        if keys:
            return f"expected a mapping with keys ({keys}), got {got}"
        return f"expected a mapping, got {got}"
    if kind == "literal_error":
        return f"expected {_quote_expected(str(ctx.get('expected')))}, got {got}"
    return str(error["msg"])


def _location(error: ErrorDetails) -> tuple[str | int, ...]:
    loc = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedValueError):
        loc += cause.key
    return loc


def from_validation_error(
    exc: ValidationError, data: Mapping[str, Any], file: str, root: type[BaseModel]
) -> ScenarioError:
    """Turn pydantic's report into one :class:`ScenarioError` about its first problem.

    Args:
        exc: The error raised by ``root.model_validate(data)``.
        data: The raw data that was validated (used to name list items).
        file: The scenario file name for the message.
        root: The model class that was validated.

    Returns:
        The error to raise, about the first problem only (pydantic also reports
        every alternative of a union that failed, which is noise to a user).
    """
    errors = exc.errors()
    first = errors[0]
    loc = _location(first)
    if first["type"] == "extra_forbidden":
        key = str(loc[-1])
        message = _unknown_key(key, _model_at(root, loc[:-1]))
    elif loc and is_validation_tag(loc[-1]) and loc[-1] in ("bool", "int", "float", "str"):
        got = show_value(first.get("input"))
        message = f"expected a number, text or true/false, got {got}"
    else:
        message = _human_message(first, _model_at(root, loc))
    return ScenarioError(file, format_path(data, loc), message)
