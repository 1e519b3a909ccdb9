"""``reach: dns``: clients find the first tier's instances by DNS round robin.

Theory of operation: with ``reach: dns`` the first tier has no shared VIP. Each
instance ``i`` (1-based) has its own public address, ``203.0.113.(10+i)`` (next to
the VIP in TEST-NET-3, RFC 5737), and the service's name resolves to all of
them as A records. What a real client does with that answer:

* the authoritative server answers every query with the same record set,
  **rotated by one** per query (BIND's default ``rrset-order`` is cyclic; most
  DNS load balancing is this rotation);
* a client host's resolver **caches** the answer for the record's TTL (every
  stub or caching resolver obeys the TTL, RFC 1035 section 3.2.1; RFC 2181
  section 8) and asks again only when it has expired;
* the client connects to the **first** address of the cached answer (clients
  try addresses in the order given; the addresses here are in one prefix, so the
  destination-address sorting of RFC 6724 leaves the order alone).

So the choice is per client host and per TTL, not per connection: a host keeps
one instance for a whole TTL, and the spread over instances comes from the
rotation across many hosts' queries. With ``dns_ttl: 0`` every connection
resolves again and connections rotate over the instances one by one. No router
hashes anything: routers route each instance's address to that instance.

:class:`DnsServer` is the rotation (one counter for the run, queries counted per
instance), :class:`Resolver` one host's cache; a client host asks its resolver
for the destination of each new connection.
"""

from __future__ import annotations

from lbsim.net.addresses import VIP

__all__ = ["DnsServer", "Resolver", "dns_address"]


def dns_address(index: int) -> int:
    """Public address of instance ``index`` (1-based) of a tier reached by DNS."""
    if not 1 <= index <= 245:
        raise ValueError(f"a DNS-reached tier has at most 245 instances, not {index}")
    return VIP + index


class DnsServer:
    """The authoritative answer: every instance's address, rotated by one per query.

    Attributes:
        addresses: The A records, in configuration order.
        queries: Queries answered.
        first: How many answers put each address first (what clients connect to).
    """

    def __init__(self, addresses: list[int]) -> None:
        if not addresses:
            raise ValueError("a DNS name needs at least one address")
        self.addresses = list(addresses)
        self.queries = 0
        self.first = dict.fromkeys(addresses, 0)

    def query(self) -> list[int]:
        """The record set for the next query (rotated one further than the last one)."""
        n = len(self.addresses)
        start = self.queries % n
        self.queries += 1
        answer = self.addresses[start:] + self.addresses[:start]
        self.first[answer[0]] += 1
        return answer


class Resolver:
    """One client host's resolver: the last answer, kept for the TTL.

    Attributes:
        server: Where queries go.
        ttl: Seconds an answer is kept (0: ask for every connection).
        expires: When the cached answer runs out.
        answer: The cached record set (empty before the first query).
    """

    def __init__(self, server: DnsServer, ttl: float) -> None:
        self.server = server
        self.ttl = ttl
        self.expires = 0.0
        self.answer: list[int] = []

    def __call__(self, now: float) -> int:
        """The address a connection opened at ``now`` goes to."""
        if not self.answer or now >= self.expires:
            self.answer = self.server.query()
            self.expires = now + self.ttl
        return self.answer[0]
