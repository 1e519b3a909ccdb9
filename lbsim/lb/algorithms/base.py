"""The common interface of every load-balancing algorithm.

Theory of operation
-------------------
An algorithm is a *strategy object*: the balancer hands it the list
of backends it may use right now (``candidates``) and gets one of them back from
``pick``.  Algorithms never touch SimPy, never read a clock of their own and never
mutate the backends: ``now`` is passed in, randomness comes from the ``rng`` the
run gave them (docs/design.md), and the only feedback channel is ``on_complete``,
which the balancer calls when a request or connection it placed finishes.

Everything that is expensive (hash rings, Maglev tables, cumulative weights) is
derived from the candidate set and cached by the concrete classes; ``pick`` is in
the hot loop (once per connection at L4, once per request at L7) and stays O(1)
or one O(n) pass with small constants.

Parameters are keyword-only constructor arguments, validated eagerly; a bad value
or an unknown name raises ``ValueError`` with the algorithm's name in the message.
"""

from __future__ import annotations

import inspect
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = ["NOT_FOR_HASHING", "SLOW_START_PARAMS", "Algorithm", "B", "BackendView"]


class BackendView(Protocol):
    """What a balancer shows an algorithm about one backend (read-only)."""

    @property
    def name(self) -> str:
        """Unique backend name, e.g. ``"web-1"``."""
        ...

    @property
    def weight(self) -> float:
        """Relative capacity, > 0."""
        ...

    @property
    def active(self) -> int:
        """Live connections (L4) or in-flight requests (L7) the balancer attributes to it."""
        ...


B = TypeVar("B", bound=BackendView)


class Algorithm(ABC):
    """Base class of all load-balancing algorithms.

    Attributes:
        name: Registry name, e.g. ``"round_robin"``.
        layers: The OSI layers (4 and/or 7) at which the algorithm is offered.
        rng: The random stream this instance draws from.
    """

    name: ClassVar[str]
    layers: ClassVar[frozenset[int]]
    refused_params: ClassVar[dict[str, str]] = {}
    """Parameters other algorithms take that this one refuses, with the reason."""
    uses_key: ClassVar[bool] = True
    """Whether ``pick`` reads its ``key``; balancers hash one only for those that do."""

    def __init__(self, rng: random.Random, **params: Any) -> None:
        """Store the random stream and reject parameters nobody consumed.

        Subclasses declare their parameters as keyword-only arguments and pass
        the rest (``**params``) up here, so a misspelt name is reported.

        Args:
            rng: The random stream of this balancer (owned by the run).
            **params: Leftover parameters; must be empty.

        Raises:
            ValueError: If ``params`` is not empty or ``rng`` is not a Random.
        """
        if not isinstance(rng, random.Random):
            raise ValueError(f"{self.name}: rng must be a random.Random, got {type(rng).__name__}")
        for param in sorted(params):
            reason = self.refused_params.get(param)
            if reason is not None:
                raise ValueError(f"{self.name}: {param} does not apply: {reason}")
        if params:
            accepted = self.accepted_params()
            raise ValueError(
                f"{self.name}: unknown parameter(s) {', '.join(sorted(params))}; "
                f"accepted: {', '.join(accepted) if accepted else 'none'}"
            )
        self.rng = rng

    @classmethod
    def accepted_params(cls) -> tuple[str, ...]:
        """Names of the keyword parameters this algorithm accepts.

        Returns:
            The keyword-only parameter names collected along the class hierarchy.
        """
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is Algorithm:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in names:
                    names.append(p.name)
        return tuple(names)

    @abstractmethod
    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Choose one backend.

        Args:
            candidates: Non-empty sequence of usable backends, in a stable order
                (the set may differ from one call to the next).
            now: Current simulated time in seconds.
            key: 64-bit hash of the affinity key (client address/port at L4, a
                header or cookie at L7); required by the hashing algorithms only.

        Returns:
            One element of ``candidates`` (the object itself, not a copy).
        """

    def on_complete(self, backend: BackendView, now: float, latency: float) -> None:  # noqa: B027
        """Learn that a request/connection placed on ``backend`` finished.

        The default ignores it; latency-aware algorithms override this.

        Args:
            backend: The backend that served it.
            now: Completion time (simulated seconds).
            latency: Observed latency in seconds (>= 0).
        """

    def backend_joined(self, name: str, now: float) -> None:  # noqa: B027
        """Learn that backend ``name`` joined the pool (or came back) at ``now``.

        Balancers may call this on scale-out and when a backend passes its health
        checks again; algorithms with slow start begin the backend's ramp.  The
        default ignores it.

        Args:
            name: The backend's name.
            now: Simulated time of joining.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


SLOW_START_PARAMS = ("slow_start_window", "slow_start_aggression", "slow_start_min_percent")
"""The slow-start parameters of the weighted algorithms."""

NOT_FOR_HASHING = (
    "hashing sends each key to its own backend whatever the weights of the moment, "
    "so there is no weight to ramp (a newcomer only takes its share of keys); "
    "consistent_hash and maglev take balance_factor to keep any backend from overload"
)


def require_key(algorithm: str, key: int | None) -> int:
    """Return ``key`` or fail with a clear message when a hashing algorithm lacks one.

    Args:
        algorithm: Name used in the message.
        key: The key passed to ``pick``.

    Returns:
        The key.

    Raises:
        ValueError: If ``key`` is None.
    """
    if key is None:
        raise ValueError(
            f"{algorithm}: pick() needs a key (a 64-bit hash of the client address "
            "or of the affinity header/cookie), got None"
        )
    return key


def positive_int(algorithm: str, param: str, value: object) -> int:
    """Validate an integer parameter > 0.

    Raises:
        ValueError: If ``value`` is not an int (bools are rejected) or is <= 0.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{algorithm}: {param} must be a positive integer, got {value!r}")
    return value


def positive_float(algorithm: str, param: str, value: object) -> float:
    """Validate a finite real parameter > 0.

    Raises:
        ValueError: If ``value`` is not a finite number > 0.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{algorithm}: {param} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result) or result <= 0.0:
        raise ValueError(f"{algorithm}: {param} must be finite and > 0, got {value!r}")
    return result


def boolean(algorithm: str, param: str, value: object) -> bool:
    """Validate a boolean parameter.

    Raises:
        ValueError: If ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        raise ValueError(f"{algorithm}: {param} must be true or false, got {value!r}")
    return value
