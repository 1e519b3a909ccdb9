"""A layer-7 balancer's response cache: keyed by method and path, TTL, LRU by bytes.

Theory of operation: a cache answers a request from memory if it has a fresh copy
of the response to the same method and path, so the request never reaches a
backend (concept C19). Entries expire ``ttl`` seconds after they were stored; when
storing a response would exceed the byte budget, the least recently used entries
are evicted first. Only cacheable methods are looked up or stored, and only
successful responses (status 200) are kept. Sans-IO: every call takes ``now``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A stored response: enough to answer a later request with it.

    Attributes:
        size: Response bytes on the wire.
        status: Status code.
        stored_at: When it was stored.
        server: Backend that produced it.
    """

    size: int
    status: int
    stored_at: float
    server: str


class ResponseCache:
    """LRU, TTL-bounded, byte-bounded response cache.

    Attributes:
        capacity: Byte budget.
        ttl: Freshness lifetime, seconds.
        methods: Cacheable methods.
        hits, misses, evictions, expirations, stored_bytes: Statistics.
    """

    def __init__(self, capacity: int, ttl: float, methods: Iterable[str] = ("GET", "HEAD")):
        if capacity <= 0 or ttl <= 0:
            raise ValueError("a cache needs a positive size and ttl")
        self.capacity = capacity
        self.ttl = ttl
        self.methods = frozenset(methods)
        self._entries: OrderedDict[tuple[str, str], CachedResponse] = OrderedDict()
        self.stored_bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def cacheable(self, method: str) -> bool:
        """Whether requests with ``method`` may be served from or stored in the cache."""
        return method in self.methods

    def lookup(self, method: str, path: str, now: float) -> CachedResponse | None:
        """A fresh stored response for ``method path``, or None (a miss)."""
        key = (method, path)
        entry = self._entries.get(key)
        if entry is not None and now - entry.stored_at >= self.ttl:
            self._drop(key)
            self.expirations += 1
            entry = None
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def store(
        self, method: str, path: str, size: int, status: int, server: str, now: float
    ) -> bool:
        """Keep a backend's response; returns whether it was stored."""
        if status != 200 or not self.cacheable(method) or size > self.capacity:
            return False
        key = (method, path)
        if key in self._entries:
            self._drop(key)
        while self.stored_bytes + size > self.capacity:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.evictions += 1
        self._entries[key] = CachedResponse(size, status, now, server)
        self.stored_bytes += size
        return True

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key)
        self.stored_bytes -= entry.size

    @property
    def hit_ratio(self) -> float | None:
        """Hits over lookups, None before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None
