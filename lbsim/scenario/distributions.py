"""Probability distributions for service times, think times and message sizes.

Theory of operation:
    Each distribution is a small frozen value object that knows its analytic ``mean``
    and coefficient of variation ``cv`` (so tests can compare simulated results with
    theory), and its quantile function (inverse CDF). Sampling is always
    ``quantile(rng.random())``: one uniform number in, one value out. That is
    inverse-transform sampling, and the simulator relies on it for common random
    numbers: two balancer variants that draw the same uniform from the same stream get
    the same service time, and because quantile functions are monotone, a larger
    uniform always means a longer (or equal) time, even across different families.

    Families without a closed-form inverse (Erlang, hyperexponential) are inverted
    numerically by Newton's method, which converges in a handful of steps.

    A distribution carries its ``kind`` ("time" or "size") only so that ``str()`` can
    write its arguments with the right units; values are always plain floats (seconds
    or bytes). The text grammar that builds these objects lives in ``grammar.py``.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import ClassVar, Final, Literal

from lbsim.scenario.units import format_duration, format_number, format_size

__all__ = [
    "FAMILIES",
    "Constant",
    "Distribution",
    "DistributionError",
    "Erlang",
    "Exponential",
    "HyperExponential",
    "Kind",
    "LogNormal",
    "Param",
    "Pareto",
    "Uniform",
]

Kind = Literal["time", "size"]

_STANDARD_NORMAL = NormalDist()
_NEWTON_STEPS = 100
_NEWTON_TOLERANCE = 1e-13
MAX_CV: Final = 1000.0
_CV_REASON: Final = (
    f"cv must be at most {MAX_CV:g}: beyond that almost every sample is near 0 and a "
    "rare one is astronomically large (measured service times rarely exceed cv 10)"
)
_MAX_ERLANG_K = 100  # cv = 0.1; beyond that, a constant is as good and far cheaper


class DistributionError(ValueError):
    """A distribution's text is malformed or its parameters are out of range."""


@dataclass(frozen=True, slots=True)
class Param:
    """One argument of a distribution family, as written in scenario text.

    Attributes:
        name: Keyword name, e.g. ``"mean"``.
        kind: ``"quantity"`` (a duration or size, depending on the field), ``"number"``
            (a plain real number) or ``"integer"``.
    """

    name: str
    kind: Literal["quantity", "number", "integer"]


class Distribution(ABC):
    """Common interface of all distributions.

    Subclasses are frozen, slotted dataclasses whose fields are the parameters as
    written (in seconds or bytes), followed by ``kind``.
    """

    __slots__ = ()

    family: ClassVar[str]
    """Name used in scenario text, e.g. ``"exp"``."""
    params: ClassVar[tuple[Param, ...]]
    """Arguments in positional order."""
    keyword_form: ClassVar[bool] = True
    """Whether ``str()`` writes the arguments as ``name=value``."""

    kind: Kind

    @property
    @abstractmethod
    def mean(self) -> float:
        """Analytic mean, in seconds or bytes."""

    @property
    @abstractmethod
    def cv(self) -> float:
        """Analytic coefficient of variation (standard deviation / mean)."""

    @abstractmethod
    def quantile(self, u: float) -> float:
        """Inverse CDF: the value below which a fraction ``u`` of samples fall.

        Args:
            u: A probability in [0, 1).

        Returns:
            The quantile, in seconds or bytes; non-decreasing in ``u``.
        """

    def sample(self, rng: random.Random) -> float:
        """Draw one value by inverse-transform sampling (exactly one ``rng.random()``).

        Args:
            rng: The random stream to draw from.

        Returns:
            ``self.quantile(rng.random())``.
        """
        return self.quantile(rng.random())

    def _quantity(self, value: float) -> str:
        return format_duration(value) if self.kind == "time" else format_size(value)

    def __str__(self) -> str:
        parts = []
        for param in self.params:
            value = getattr(self, param.name)
            text = self._quantity(value) if param.kind == "quantity" else format_number(value)
            parts.append(f"{param.name}={text}" if self.keyword_form else text)
        return f"{self.family}({', '.join(parts)})"


def _bad_u(u: float) -> ValueError:
    """The error for a ``u`` outside [0, 1) (each quantile tests the range inline)."""
    return ValueError(f"quantile needs a probability in [0, 1), got {u!r}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise DistributionError(message)


def _check_kind(kind: str) -> None:
    if kind not in ("time", "size"):
        raise DistributionError(f'kind must be "time" or "size", got {kind!r}')


@dataclass(frozen=True, slots=True)
class Constant(Distribution):
    """Always the same value: ``5ms`` or ``const(5ms)``."""

    family: ClassVar[str] = "const"
    params: ClassVar[tuple[Param, ...]] = (Param("value", "quantity"),)
    keyword_form: ClassVar[bool] = False

    value: float
    kind: Kind = "time"

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _require(math.isfinite(self.value), "the value must be finite")
        _require(self.value >= 0, "the value must not be negative")

    @property
    def mean(self) -> float:
        """The constant value itself."""
        return self.value

    @property
    def cv(self) -> float:
        """Zero: a constant does not vary."""
        return 0.0

    def quantile(self, u: float) -> float:
        """The constant value, whatever ``u``."""
        if not 0.0 <= u < 1.0:
            raise _bad_u(u)
        return self.value

    def sample(self, rng: random.Random) -> float:
        """The value; the uniform is drawn all the same (every family draws one)."""
        rng.random()
        return self.value

    def __str__(self) -> str:
        return self._quantity(self.value)


@dataclass(frozen=True, slots=True)
class Exponential(Distribution):
    """Memoryless: ``exp(5ms)`` has mean 5 ms and cv 1."""

    family: ClassVar[str] = "exp"
    params: ClassVar[tuple[Param, ...]] = (Param("mean", "quantity"),)
    keyword_form: ClassVar[bool] = False

    # `= field()` stops dataclass from taking the base class property as a default.
    mean: float = field()
    kind: Kind = "time"

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _require(0 < self.mean < math.inf, "the mean must be greater than 0")

    @property
    def cv(self) -> float:
        """One: an exponential's standard deviation equals its mean."""
        return 1.0

    def quantile(self, u: float) -> float:
        """Inverse CDF: ``-mean * ln(1 - u)``."""
        if not 0.0 <= u < 1.0:
            raise _bad_u(u)
        return -self.mean * math.log1p(-u)

    def sample(self, rng: random.Random) -> float:
        """:meth:`quantile` of one draw, written out (think times, service times)."""
        return -self.mean * math.log1p(-rng.random())


@dataclass(frozen=True, slots=True)
class Uniform(Distribution):
    """Flat between two bounds: ``uniform(1ms, 9ms)``."""

    family: ClassVar[str] = "uniform"
    params: ClassVar[tuple[Param, ...]] = (Param("low", "quantity"), Param("high", "quantity"))
    keyword_form: ClassVar[bool] = False

    low: float
    high: float
    kind: Kind = "time"

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _require(math.isfinite(self.low + self.high), "bounds must be finite")
        _require(self.low >= 0, "low must not be negative")
        _require(self.low <= self.high, "low must not be greater than high")

    @property
    def mean(self) -> float:
        """Midpoint of the two bounds."""
        return (self.low + self.high) / 2

    @property
    def cv(self) -> float:
        """Width over (sqrt(3) times the sum of the bounds); 0 when both bounds are 0."""
        if self.mean == 0:
            return 0.0
        return (self.high - self.low) / (math.sqrt(3) * (self.high + self.low))

    def quantile(self, u: float) -> float:
        """Inverse CDF: linear from ``low`` at 0 to ``high`` at 1."""
        if not 0.0 <= u < 1.0:
            raise _bad_u(u)
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True, slots=True)
class LogNormal(Distribution):
    """Right-skewed, given by mean and cv: ``lognormal(mean=20ms, cv=0.5)``."""

    family: ClassVar[str] = "lognormal"
    params: ClassVar[tuple[Param, ...]] = (Param("mean", "quantity"), Param("cv", "number"))

    mean: float = field()
    cv: float = field()
    kind: Kind = "time"
    _mu: float = field(init=False, repr=False, compare=False)
    _sigma: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _require(0 < self.mean < math.inf, "the mean must be greater than 0")
        _require(0 < self.cv < math.inf, "cv must be greater than 0")
        _require(self.cv <= MAX_CV, _CV_REASON)
        variance = math.log1p(self.cv**2)  # of the underlying normal
        object.__setattr__(self, "_sigma", math.sqrt(variance))
        object.__setattr__(self, "_mu", math.log(self.mean) - variance / 2)

    def quantile(self, u: float) -> float:
        """Inverse CDF through the standard normal's inverse CDF."""
        if not 0.0 <= u < 1.0:
            raise _bad_u(u)
        if u == 0.0:
            return 0.0
        return math.exp(self._mu + self._sigma * _STANDARD_NORMAL.inv_cdf(u))


def _erlang_lower_tail(k: int, y: float) -> float:
    """P(k, y) = 1 - exp(-y)·sum_{n<k} y^n/n!, by its series (accurate when tiny)."""
    # P = y^k e^-y / k! * sum_{n>=0} y^n / ((k+1)(k+2)...(k+n))
    term = total = 1.0
    n = k
    while term > 1e-17 * total:
        n += 1
        term *= y / n
        total += term
    return math.exp(k * math.log(y) - y - math.lgamma(k + 1)) * total


def _erlang_upper_tail(k: int, y: float, log_gamma_k: float) -> float:
    """Q(k, y) = exp(-y)·sum_{n<k} y^n/n!, summed from the largest term n = k-1 down."""
    term = total = 1.0
    for n in range(k - 1, 0, -1):
        term *= n / y
        total += term
    return math.exp((k - 1) * math.log(y) - y - log_gamma_k) * total


def _erlang_unit_quantile(k: int, u: float) -> float:
    """Quantile of the Erlang(k) distribution with rate 1 (mean k), for k >= 2.

    Halley's method on CDF(y) - u, kept inside a shrinking bracket. The CDF is
    computed from the upper-tail sum, except for a tiny ``u`` where the lower tail's
    series keeps full relative precision.
    """
    log_gamma_k = math.lgamma(k)
    tiny = u < 1e-6
    # Start from the better of two approximations: the series' leading term
    # y^k/k! = u (a lower bound of the root) and Wilson-Hilferty (good in the body).
    leading = math.exp((math.log(u) + math.lgamma(k + 1)) / k)
    cube_root = 1 - 1 / (9 * k) + _STANDARD_NORMAL.inv_cdf(u) * math.sqrt(1 / (9 * k))
    y = max(leading, k * max(cube_root, 0.0) ** 3)
    low, high = 0.0, math.inf
    previous = math.inf
    for _ in range(_NEWTON_STEPS):
        if tiny:
            excess = _erlang_lower_tail(k, y) - u
        else:
            excess = (1.0 - u) - _erlang_upper_tail(k, y, log_gamma_k)
        if excess > 0:
            high = y
        else:
            low = y
        density = math.exp((k - 1) * math.log(y) - y - log_gamma_k)
        newton = excess / density if density > 0 else math.inf
        curvature = 1 - 0.5 * newton * ((k - 1) / y - 1)
        step = newton / curvature if curvature > 0.5 else newton
        if abs(step) <= _NEWTON_TOLERANCE * y:
            return y - step
        if abs(step) >= abs(previous) and abs(step) <= 1e-9 * y:
            return y  # rounding noise in the CDF now dominates: this is as close as it gets
        previous = step
        y -= step
        if not low < y < high:  # the step left the bracket: bisect instead
            y = (low + high) / 2 if high < math.inf else 2 * low
    return y


@dataclass(frozen=True, slots=True)
class Erlang(Distribution):
    """Sum of k exponential phases: ``erlang(k=4, mean=5ms)`` has cv 1/sqrt(k)."""

    family: ClassVar[str] = "erlang"
    params: ClassVar[tuple[Param, ...]] = (Param("k", "integer"), Param("mean", "quantity"))

    k: int
    mean: float = field()
    kind: Kind = "time"

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        whole = isinstance(self.k, int) and not isinstance(self.k, bool)
        _require(whole, "k must be a whole number")
        _require(1 <= self.k <= _MAX_ERLANG_K, f"k must be between 1 and {_MAX_ERLANG_K}")
        _require(0 < self.mean < math.inf, "the mean must be greater than 0")

    @property
    def cv(self) -> float:
        """``1 / sqrt(k)``: the sum of k exponential stages varies sqrt(k) times less."""
        return 1 / math.sqrt(self.k)

    def quantile(self, u: float) -> float:
        """Inverse CDF of the Erlang-k, found numerically."""
        if not 0.0 <= u < 1.0:
            raise _bad_u(u)
        if u == 0.0:
            return 0.0
        if self.k == 1:
            return -self.mean * math.log1p(-u)
        return _erlang_unit_quantile(self.k, u) * self.mean / self.k


@dataclass(frozen=True, slots=True)
class HyperExponential(Distribution):
    """Two exponential phases with balanced means: ``hyperexp(mean=5ms, cv=2)``.

    With probability p1 the value comes from a fast phase of rate 2·p1/mean, otherwise
    from a slow phase of rate 2·p2/mean (each phase contributes half the mean), where
    p1 = (1 + sqrt((cv² - 1)/(cv² + 1))) / 2. cv = 1 is the exponential distribution.
    """

    family: ClassVar[str] = "hyperexp"
    params: ClassVar[tuple[Param, ...]] = (Param("mean", "quantity"), Param("cv", "number"))

    mean: float = field()
    cv: float = field()
    kind: Kind = "time"
    _p_fast: float = field(init=False, repr=False, compare=False)
    _rate_fast: float = field(init=False, repr=False, compare=False)
    _rate_slow: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _require(0 < self.mean < math.inf, "the mean must be greater than 0")
        _require(1 <= self.cv < math.inf, "cv must be at least 1")
        _require(self.cv <= MAX_CV, _CV_REASON)
        square = self.cv**2
        p_fast = (1 + math.sqrt((square - 1) / (square + 1))) / 2
        object.__setattr__(self, "_p_fast", p_fast)
        object.__setattr__(self, "_rate_fast", 2 * p_fast / self.mean)
        object.__setattr__(self, "_rate_slow", 2 * (1 - p_fast) / self.mean)

    def quantile(self, u: float) -> float:
        """Invert the mixture's CDF numerically (monotone in ``u``, one uniform).

        Solves ln S(x) = ln(1 - u) for the survival function
        S(x) = p1·exp(-a·x) + p2·exp(-b·x). ln S is convex and decreasing, so
        Newton's method started at x = 0 climbs to the root without overshooting.
        """
        if not 0.0 <= u < 1.0:
            raise _bad_u(u)
        if u == 0.0:
            return 0.0
        p_fast, p_slow = self._p_fast, 1 - self._p_fast
        fast, slow = self._rate_fast, self._rate_slow
        target = math.log1p(-u)
        x = 0.0
        for _ in range(_NEWTON_STEPS):
            ratio = math.exp(-(fast - slow) * x)  # factor out the slow phase: stable
            mix = p_fast * ratio + p_slow
            log_survival = -slow * x + math.log(mix)
            slope = -(p_fast * fast * ratio + p_slow * slow) / mix
            step = (log_survival - target) / -slope
            x += step
            if step <= _NEWTON_TOLERANCE * x:
                break
        return x if x > 0.0 else 0.0  # a u of ~1e-17 can round to a hair below zero


@dataclass(frozen=True, slots=True)
class Pareto(Distribution):
    """Heavy-tailed (Pareto type I) given by mean and tail index: ``pareto(mean=5ms, alpha=2.5)``.

    The minimum is mean·(alpha - 1)/alpha; the variance is infinite for alpha ≤ 2,
    and then ``cv`` is ``inf``.
    """

    family: ClassVar[str] = "pareto"
    params: ClassVar[tuple[Param, ...]] = (Param("mean", "quantity"), Param("alpha", "number"))

    mean: float = field()
    alpha: float
    kind: Kind = "time"
    _minimum: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _require(0 < self.mean < math.inf, "the mean must be greater than 0")
        _require(1 < self.alpha < math.inf, "alpha must be greater than 1 (finite mean)")
        object.__setattr__(self, "_minimum", self.mean * (self.alpha - 1) / self.alpha)

    @property
    def cv(self) -> float:
        """``1 / sqrt(alpha * (alpha - 2))``; infinite when alpha <= 2."""
        if self.alpha <= 2:
            return math.inf
        return 1 / math.sqrt(self.alpha * (self.alpha - 2))

    def quantile(self, u: float) -> float:
        """Inverse CDF of the Pareto with the minimum that gives this mean."""
        if not 0.0 <= u < 1.0:
            raise _bad_u(u)
        return self._minimum * (1.0 - u) ** (-1.0 / self.alpha)


FAMILIES: dict[str, type[Distribution]] = {
    cls.family: cls
    for cls in (Constant, Exponential, Uniform, LogNormal, Erlang, HyperExponential, Pareto)
}
"""Distribution classes by the family name used in scenario text."""
