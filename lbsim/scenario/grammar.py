"""The text grammar of distributions: ``exp(5ms)``, ``lognormal(mean=20ms, cv=0.5)``.

Theory of operation:
    Distribution text is never evaluated as Python. A tokenizer cuts it into names,
    quantities (a number with an optional unit attached, like ``5ms`` or ``5 ms``) and
    the punctuation ``( ) , =``; a recursive-descent parser then accepts exactly::

        distribution := quantity                      # a constant
                      | NAME "(" [argument ("," argument)*] ")"
        argument     := NAME "=" quantity | quantity

    Each family in ``distributions.FAMILIES`` lists its parameters in positional
    order and says whether each is a quantity (a duration for time fields, a size for
    size fields), a plain number or an integer. The parser binds positional and
    keyword arguments to those parameters, converts them with the units module, and
    constructs the (self-validating) distribution object. Every error names the text
    and says what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal, cast

from lbsim.scenario.distributions import (
    FAMILIES,
    Constant,
    Distribution,
    DistributionError,
    Kind,
    Param,
)
from lbsim.scenario.units import UnitError, parse_duration, parse_size, show_value

__all__ = ["parse_distribution"]

_TOKEN_RE: Final = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<quantity>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:\s*[A-Za-zµμ]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),=])
    """,
    re.VERBOSE,
)
_EXAMPLES: Final = {
    "time": '"exp(5ms)", "uniform(1ms, 9ms)" or "lognormal(mean=20ms, cv=0.5)"',
    "size": '"20KB", "exp(20KB)" or "lognormal(mean=20KB, cv=1.5)"',
}


_TokenKind = Literal["quantity", "name", "punct", "end"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _TokenKind
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            character = text[position]
            raise DistributionError(
                f'unexpected character "{character}" at position {position + 1}'
            )
        kind = match.lastgroup
        if kind != "space":
            tokens.append(_Token(cast(_TokenKind, kind), match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive-descent parser over the token list of one distribution text."""

    def __init__(self, text: str, kind: Kind) -> None:
        self.text = text
        self.kind = kind
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            found = f'"{token.text}"' if token.kind != "end" else "the end"
            raise DistributionError(f'expected "{text}" but found {found}')

    def distribution(self) -> Distribution:
        first = self.take()
        if first.kind == "quantity":
            self.expect_end()
            return Constant(self.quantity(first.text, "value"), kind=self.kind)
        if first.kind != "name":
            raise DistributionError("expected a family name or a quantity")
        cls = FAMILIES.get(first.text)
        if cls is None:
            known = ", ".join(FAMILIES)
            raise DistributionError(f'unknown distribution "{first.text}" (known: {known})')
        self.expect("(")
        positional, keywords = self.arguments()
        self.expect_end()
        values = self.bind(first.text, cls.params, positional, keywords)
        factory: Callable[..., Distribution] = cls
        return factory(**values, kind=self.kind)

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind != "end":
            raise DistributionError(f'unexpected "{token.text}" after the end')

    def arguments(self) -> tuple[list[str], dict[str, str]]:
        positional: list[str] = []
        keywords: dict[str, str] = {}
        if self.peek().text == ")":
            self.take()
            return positional, keywords
        while True:
            token = self.take()
            if token.kind == "name" and self.peek().text == "=":
                self.take()
                value = self.take()
                if value.kind != "quantity":
                    raise DistributionError(f'expected a value after "{token.text}="')
                if token.text in keywords:
                    raise DistributionError(f'argument "{token.text}" is given twice')
                keywords[token.text] = value.text
            elif token.kind == "quantity":
                if keywords:
                    raise DistributionError(
                        "positional arguments must come before keyword arguments"
                    )
                positional.append(token.text)
            else:
                found = f'"{token.text}"' if token.kind != "end" else "the end"
                raise DistributionError(f"expected an argument but found {found}")
            separator = self.take()
            if separator.text == ")":
                return positional, keywords
            if separator.text != ",":
                found = f'"{separator.text}"' if separator.kind != "end" else "the end"
                raise DistributionError(f'expected "," or ")" but found {found}')

    def bind(
        self,
        family: str,
        params: tuple[Param, ...],
        positional: list[str],
        keywords: dict[str, str],
    ) -> dict[str, float | int]:
        names = ", ".join(param.name for param in params)
        signature = f"{family}({names})"
        if len(positional) > len(params):
            raise DistributionError(
                f"{signature} takes {len(params)} argument{'s' if len(params) > 1 else ''}, "
                f"got {len(positional)}"
            )
        raw: dict[str, str] = {}
        for param, value in zip(params, positional, strict=False):
            raw[param.name] = value
        known = {param.name for param in params}
        for name, value in keywords.items():
            if name not in known:
                raise DistributionError(f'{signature} has no argument "{name}"')
            if name in raw:
                raise DistributionError(f'argument "{name}" is given twice')
            raw[name] = value
        missing = [param.name for param in params if param.name not in raw]
        if missing:
            raise DistributionError(f'{signature} is missing "{missing[0]}"')
        return {param.name: self.convert(param, raw[param.name]) for param in params}

    def convert(self, param: Param, text: str) -> float | int:
        if param.kind == "quantity":
            return self.quantity(text, param.name)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise DistributionError(
                f'{param.name} is a plain number without a unit, got "{text}"'
            ) from None
        if param.kind == "integer":
            if number != number.to_integral_value() or not re.fullmatch(r"[+-]?\d+", text):
                raise DistributionError(f'{param.name} must be a whole number, got "{text}"')
            return int(number)
        return float(number)

    def quantity(self, text: str, name: str) -> float:
        try:
            if self.kind == "time":
                return parse_duration(text)
            return float(parse_size(text))
        except UnitError as exc:
            raise DistributionError(f"{name}: {exc}") from None


def parse_distribution(value: object, kind: Kind = "time") -> Distribution:
    """Build a distribution from scenario text.

    Args:
        value: Text such as ``"exp(5ms)"``, ``"uniform(1ms, 9ms)"``,
            ``"lognormal(mean=20ms, cv=0.5)"`` or a plain quantity ``"5ms"``; the number
            0 means a constant zero. A :class:`Distribution` of the right kind is
            returned unchanged.
        kind: ``"time"`` if quantities are durations, ``"size"`` if they are sizes.

    Returns:
        The distribution; its values are seconds or bytes (as floats).

    Raises:
        DistributionError: With a one-line message naming the text and the problem.
    """
    if isinstance(value, Distribution):
        if value.kind != kind:
            raise DistributionError(f"expected a {kind} distribution, got a {value.kind} one")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return Constant(0.0, kind=kind)
    if not isinstance(value, str) or not value.strip():
        raise DistributionError(
            f"expected a distribution such as {_EXAMPLES[kind]}, got {show_value(value)}"
        )
    try:
        return _Parser(value, kind).distribution()
    except DistributionError as exc:
        raise DistributionError(f"invalid distribution {show_value(value)}: {exc}") from None
