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
from statistics import NormalDist


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


def supermarket_response(lam: float, d: int = 2) -> float:
    """Mean time in system (units of ``1/mu``) of the supermarket model, large-n limit.

    n exponential servers, Poisson arrivals at rate ``lam * n``; each arrival joins
    the shortest of ``d`` queues drawn uniformly at random.  As n grows, the share
    of queues with at least i customers tends to ``lam^((d^i - 1)/(d - 1))``, so the
    mean time in system is ``sum_{i>=1} lam^((d^i - d)/(d - 1))`` (1.2657, 1.6145,
    1.9474, 2.6141, 3.3830 for d = 2 at lam = 0.5, 0.7, 0.8, 0.9, 0.95).  With
    d = 1 each queue is M/M/1: ``1 / (1 - lam)``.  Source: M. Mitzenmacher, "The
    Power of Two Choices in Randomized Load Balancing", IEEE Trans. Parallel and
    Distributed Systems 12(10), 2001, Theorem 3.6 and Table 1 (and his 1996 thesis).

    Args:
        lam: Arrival rate per server, in [0, 1).
        d: Choices per arrival, >= 1.
    """
    if not 0 <= lam < 1 or d < 1:
        raise ValueError("need 0 <= lam < 1 and d >= 1")
    if d == 1:
        return 1.0 / (1.0 - lam)
    total = 0.0
    i = 1
    while True:
        exponent = (d**i - d) // (d - 1)
        term = lam**exponent
        total += term
        if term < 1e-16 or exponent > 1_000_000:
            return total
        i += 1


def choice_win_probability(rank: int, n: int, d: int, replacement: bool) -> float:
    """Probability that the ``rank``-th least loaded of ``n`` backends wins a d-choice pick.

    The pick samples ``d`` backends and keeps the least loaded (loads all distinct).
    The backend of rank k wins when it is sampled and no less loaded one is:
    with replacement ``((n-k+1)^d - (n-k)^d) / n^d``; without (distinct samples)
    ``C(n-k, d-1) / C(n, d)``.  For n = 2, d = 2 the busier backend wins 1/4 of
    the picks with replacement (Envoy's sampling, envoy issues #11004 and #14859)
    and never without.

    Args:
        rank: 1 for the least loaded, n for the busiest.
        n: Number of backends.
        d: Choices.
        replacement: Whether samples are drawn with replacement.
    """
    if not 1 <= rank <= n or d < 1:
        raise ValueError("need 1 <= rank <= n and d >= 1")
    above = n - rank  # backends more loaded than this one
    if replacement:
        return ((above + 1) ** d - above**d) / n**d
    if d > n:
        return 1.0 if rank == 1 else 0.0
    return math.comb(above, d - 1) / math.comb(n, d)


def bounded_load_cap(factor: float, total: int, n: int) -> int:
    """Most in-flight work a backend may hold after a bounded-load placement.

    Consistent hashing with bounded loads lets a backend take the item being placed
    only if it then holds at most ``ceil(c * (total + 1) / n)``, the average counting
    that item.  Source: V. Mirrokni, M. Thorup, M. Zadimoghaddam, "Consistent Hashing
    with Bounded Loads", SODA 2018 (arXiv:1608.01350).

    Args:
        factor: Balance factor c >= 1.
        total: Work in flight on all n backends before the placement.
        n: Number of (equal-weight) backends.
    """
    if factor < 1 or total < 0 or n < 1:
        raise ValueError("need factor >= 1, total >= 0 and n >= 1")
    return math.ceil(factor * (total + 1) / n)


def _binomial_cdf(k: int, trials: int, p: float) -> float:
    """``P(X <= k)`` for ``X ~ Binomial(trials, p)``, summed in log space."""
    if k < 0:
        return 0.0
    if k >= trials:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    lg = math.lgamma
    return sum(
        math.exp(lg(trials + 1) - lg(j + 1) - lg(trials - j + 1) + j * log_p + (trials - j) * log_q)
        for j in range(k + 1)
    )


def random_placement_overload(connections: int, servers: int, capacity: int) -> float:
    """Share of servers over ``capacity`` when connections are placed uniformly at random.

    Each server's count is ``Binomial(connections, 1/servers)``.  With 1000
    long-lived connections, capacity 100 and 10 servers this is 0.47: about half the
    servers are over capacity although the average is exactly at it (Evan Jones,
    "Load balancing is impossible", 2016).

    Args:
        connections: Connections placed.
        servers: Servers, equally likely.
        capacity: Connections a server can hold.
    """
    return 1.0 - _binomial_cdf(capacity, connections, 1.0 / servers)


def random_placement_quantile(connections: int, servers: int, q: float) -> int:
    """The ``q`` quantile of one server's load under uniform random placement.

    The smallest k with ``P(load <= k) >= q``; for 1000 connections on 13 servers
    the 99th percentile is 97, on 12 servers 104 (Evan Jones: at least 13 servers of
    capacity 100 keep the p99 server under capacity).
    """
    if not 0 < q < 1:
        raise ValueError("q must be in (0, 1)")
    p = 1.0 / servers
    cumulative = 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    lg = math.lgamma
    for k in range(connections + 1):
        cumulative += math.exp(
            lg(connections + 1) - lg(k + 1) - lg(connections - k + 1) + k * log_p
            + (connections - k) * log_q
        )  # fmt: skip
        if cumulative >= q:
            return k
    return connections


def servers_for_quantile(connections: int, capacity: int, q: float = 0.99) -> int:
    """Fewest servers for which the ``q`` quantile of random placement fits ``capacity``."""
    servers = max(1, math.ceil(connections / capacity))
    while random_placement_quantile(connections, servers, q) > capacity:
        servers += 1
    return servers


def ring_share_spread(vnodes: int, servers: int) -> float:
    """Relative standard deviation of one server's share of a consistent-hash ring.

    With ``N`` servers of ``V`` random points each, one server's share of the
    circle is ``Beta(V, (N-1) V)``: relative standard deviation
    ``sqrt((N-1) / (N V + 1))``, about ``1/sqrt(V)`` (10 % for V = 100, 3.2 % for
    V = 1000).  Source of the reference values: D. Gryski, "Consistent Hashing:
    Algorithmic Tradeoffs" (2018), which reports these for 100 and 1000 replicas.
    """
    if vnodes < 1 or servers < 1:
        raise ValueError("need vnodes >= 1 and servers >= 1")
    return math.sqrt((servers - 1) / (servers * vnodes + 1))


def ring_share_interval(vnodes: int, level: float = 0.99) -> tuple[float, float]:
    """Central ``level`` interval of a ring share relative to the mean, many servers.

    For many servers a share times ``N`` is ``Gamma(V, 1/V)``; its quantiles by the
    Wilson-Hilferty approximation ``(1 - 1/(9V) + z sqrt(1/(9V)))^3``.  V = 100 gives
    (0.76, 1.28) and V = 1000 (0.92, 1.08), the intervals Gryski reports.
    """
    if vnodes < 1 or not 0 < level < 1:
        raise ValueError("need vnodes >= 1 and 0 < level < 1")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    a = 1.0 / (9.0 * vnodes)
    return ((1 - a - z * math.sqrt(a)) ** 3, (1 - a + z * math.sqrt(a)) ** 3)


def maglev_spread(table_size: int, backends: int) -> float:
    """Largest relative difference between two backends' shares of a Maglev table.

    Every backend owns ``floor(M/N)`` or ``ceil(M/N)`` entries, so shares differ by
    at most ``1 / floor(M/N)``: under 1 % once ``M > 100 N`` (Eisenbud et al.,
    "Maglev", NSDI 2016, section 3.4: "we choose M to be larger than 100 x N to
    ensure at most a 1% difference in hash space assigned to backends").
    """
    if backends < 1 or table_size < backends:
        raise ValueError("need 1 <= backends <= table_size")
    return 0.0 if table_size % backends == 0 else 1.0 / (table_size // backends)


#: Algorithms whose pick is a function of the connection's addresses and the
#: candidate set only, so every instance with the same candidates picks alike.
CONSISTENT_PICKS = frozenset({"maglev", "consistent_hash", "source_hash"})
#: Algorithms whose pick does not depend on the connection at all (round robin's
#: rotation, a random draw): a moved flow's new pick is independent of its old one.
INDEPENDENT_PICKS = frozenset({"round_robin", "random"})


def moved_connection_break_fraction(algorithm: str, candidates: int) -> float | None:
    """Expected share of a failed L4 instance's connections that break once ECMP moves them.

    The router hands the failed instance's flows to the others; each arrives at
    an instance with no table entry for it, which places it by its own pick (as
    Maglev does: Eisenbud et al., "Maglev", NSDI 2016, section 3.3). It breaks
    (the backend it now reaches answers RST) exactly when that pick differs from
    the one the flow had. With a pick that depends only on the 5-tuple and the
    candidate set -- maglev, ring hash, source hash -- and the same ``candidates``
    at every instance, the picks agree: 0. With round robin or random the new pick
    is independent of the old and uniform over the candidates, so it agrees with
    probability ``1/P``: ``1 - 1/P``. Other algorithms depend on each instance's
    own counts; no closed form (None).
    """
    if candidates < 1:
        raise ValueError("need at least one candidate")
    if algorithm in CONSISTENT_PICKS:
        return 0.0
    if algorithm in INDEPENDENT_PICKS:
        return 1.0 - 1.0 / candidates
    return None


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
