"""Shared helpers for the load-balancing algorithm tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest


@dataclass(slots=True)
class Backend:
    """Minimal mutable BackendView for tests (the engine's own view is richer)."""

    name: str
    weight: float = 1.0
    active: int = 0


MakeBackends = Callable[..., list[Backend]]


@pytest.fixture
def make_backends() -> MakeBackends:
    """Factory: ``make_backends(3)`` or ``make_backends(weights=[5, 1, 1])``.

    Names are ``a, b, c, ...`` for up to 26 backends and ``web-0, web-1, ...`` beyond,
    or whatever ``names`` says.
    """

    def make(
        n: int | None = None,
        *,
        weights: Sequence[float] | None = None,
        names: Sequence[str] | None = None,
        prefix: str | None = None,
    ) -> list[Backend]:
        if weights is None:
            count = n if n is not None else len(names or ())
            weights = [1.0] * count
        count = len(weights)
        if names is None:
            if prefix is None and count <= 26:
                names = [chr(ord("a") + i) for i in range(count)]
            else:
                names = [f"{prefix or 'web-'}{i}" for i in range(count)]
        return [Backend(name, float(w)) for name, w in zip(names, weights, strict=True)]

    return make
