"""Closed-form results the simulator is checked against (docs/validation.md).

Theory of operation: these are the textbook formulas for the situations a
scenario can be reduced to -- a backend as an M/M/1 or M/M/c queue, per-request
balancing over identical servers, slow start, the source-port ceiling -- written
as plain functions so tests and notebooks can put simulated numbers next to
theory. Nothing here runs a simulation.

Times are in the unit of ``1/mu`` unless a function says otherwise.
"""

from __future__ import annotations

import math


def mm1_response(lam: float, mu: float) -> float:
    """Mean response time of an M/M/1 queue, ``1 / (mu - lam)``.

    Args:
        lam: Arrival rate.
        mu: Service rate (``lam < mu``).

    Returns:
        Mean time in system (waiting plus service).
    """
    if not 0 <= lam < mu:
        raise ValueError("an M/M/1 queue needs 0 <= lam < mu")
    return 1.0 / (mu - lam)


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang C).

    Args:
        c: Number of servers.
        a: Offered load ``lam / mu`` in Erlangs (``a < c``).

    Returns:
        ``C(c, a)``.
    """
    if c < 1 or not 0 <= a < c:
        raise ValueError("Erlang C needs c >= 1 and 0 <= a < c")
    rho = a / c
    term = 1.0
    total = 0.0
    for k in range(c):  # sum a^k / k! for k < c, built incrementally
        total += term
        term *= a / (k + 1)
    top = term / (1 - rho)  # (a^c / c!) / (1 - rho)
    return top / (total + top)


def mmc_response(lam: float, mu: float, c: int) -> float:
    """Mean response time of an M/M/c queue: ``C / (c mu - lam) + 1 / mu``."""
    return erlang_c(c, lam / mu) / (c * mu - lam) + 1.0 / mu


def dm1_sigma(rho: float, *, tol: float = 1e-14) -> float:
    """Root of ``sigma = exp(-(1 - sigma) / rho)`` in (0, 1): the D/M/1 queue's sigma.

    Round robin over many identical exponential servers makes each server see
    (nearly) deterministic inter-arrival times, i.e. a D/M/1 queue.
    """
    if not 0 < rho < 1:
        raise ValueError("rho must be in (0, 1)")
    sigma = rho
    for _ in range(10_000):
        nxt = math.exp(-(1 - sigma) / rho)
        if abs(nxt - sigma) < tol:
            return nxt
        sigma = nxt
    return sigma


def dm1_response(rho: float) -> float:
    """Mean response time (in units of ``1/mu``) of D/M/1 at load ``rho``: ``1/(1 - sigma)``."""
    return 1.0 / (1.0 - dm1_sigma(rho))


def p2c_response(rho: float, *, terms: int = 64) -> float:
    """Mean response time (units of ``1/mu``) under power-of-two-choices, large-n limit.

    Mitzenmacher's supermarket model: ``W = sum_{i>=1} rho^(2^i - 2)``.
    """
    if not 0 <= rho < 1:
        raise ValueError("rho must be in [0, 1)")
    return sum(rho ** (2**i - 2) for i in range(1, terms + 1) if 2**i - 2 < 4096)


def slow_start_round_trips(size: int, mss: int = 1460, initial_window: int = 10) -> int:
    """Round trips slow start needs to deliver ``size`` bytes without loss.

    The window doubles every round trip from ``initial_window`` segments, so after
    ``k`` rounds ``initial_window * (2^k - 1)`` segments have been sent.
    """
    return math.ceil(math.log2(size / (initial_window * mss) + 1))


def max_load_one_choice(n: int) -> float:
    """Leading-order maximum load when ``n`` balls go into ``n`` bins at random."""
    return math.log(n) / math.log(math.log(n))


def max_load_two_choices(n: int) -> float:
    """Leading-order maximum load with two random choices: ``ln ln n / ln 2``."""
    return math.log(math.log(n)) / math.log(2)


def port_ceiling(port_low: int = 32768, port_high: int = 60999, time_wait: float = 60.0) -> float:
    """New connections per second one source address can open to one destination.

    Every connection holds its source port through TIME_WAIT, so at most
    ``ports / time_wait`` can start per second (Linux defaults: ~470/s).
    """
    return (port_high - port_low + 1) / time_wait


def ekm1_response(k: int, rho: float, mu: float = 1.0, *, tol: float = 1e-14) -> float:
    """Mean response time of an E_k/M/1 queue (Erlang-k arrivals, exponential service).

    Round robin over ``k`` servers fed by one Poisson stream gives each server every
    k-th arrival, an Erlang-k inter-arrival time: exactly this queue. The root
    ``sigma`` of ``sigma = A*(mu (1 - sigma))``, with ``A*`` the Laplace transform of
    the inter-arrival time, gives ``W = 1 / (mu (1 - sigma))``; as ``k`` grows it
    tends to D/M/1 (:func:`dm1_response`).

    Args:
        k: Erlang shape (number of servers in the rotation).
        rho: Load of each server.
        mu: Service rate.
        tol: Convergence tolerance of the fixed-point iteration.
    """
    if k < 1 or not 0 < rho < 1:
        raise ValueError("need k >= 1 and 0 < rho < 1")
    lam = rho * mu  # per-server arrival rate
    sigma = rho
    for _ in range(100_000):
        nxt = (k * lam / (k * lam + mu * (1 - sigma))) ** k
        if abs(nxt - sigma) < tol:
            sigma = nxt
            break
        sigma = nxt
    return 1.0 / (mu * (1 - sigma))
