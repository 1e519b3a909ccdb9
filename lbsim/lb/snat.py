"""Full NAT: a layer-4 NAT balancer that also rewrites the client's source address.

Theory of operation: plain NAT rewrites only the destination (VIP -> backend), so
the backend answers the client's own address, and the reply must be routed back
through the balancer that holds the connection's state. With one balancer that is
a matter of making it the backends' gateway; with several instances behind ECMP
routing by the client's address cannot tell which instance placed the flow. Full
NAT (IPVS "FULLNAT", cloud network load balancers' default) also rewrites the
source to the instance's own address and a port it allocates, so the backend
answers the instance and ordinary routing brings the reply to the state. The
price is the client's address: the backend sees the balancer's (which is why
those balancers add PROXY protocol or keep the address in an option).

:class:`SourceNat` hands out the source ports: for each backend address and port,
the next port of the range in rotation that no live mapping uses, so a backend
sees each (instance address, port) once at a time.
"""

from __future__ import annotations

__all__ = ["SNAT_PORTS", "SourceNat"]

#: Source ports a full-NAT instance allocates (the Linux default ephemeral range).
SNAT_PORTS = (32768, 60999)


class SourceNat:
    """Source ports of one full-NAT instance.

    Attributes:
        address: The instance's own address (the new source).
        in_use: Ports taken towards each (backend address, backend port).
        exhausted: Connections refused because every port was taken.
    """

    def __init__(self, address: int, ports: tuple[int, int] = SNAT_PORTS) -> None:
        self.address = address
        self.low, self.high = ports
        self.in_use: dict[tuple[int, int], set[int]] = {}
        self._next: dict[tuple[int, int], int] = {}
        self.exhausted = 0

    def allocate(self, backend_ip: int, backend_port: int) -> int | None:
        """A free source port towards ``backend_ip:backend_port`` (None when all are taken)."""
        key = (backend_ip, backend_port)
        used = self.in_use.setdefault(key, set())
        span = self.high - self.low + 1
        if len(used) >= span:
            self.exhausted += 1
            return None
        port = self._next.get(key, self.low)
        while port in used:
            port = port + 1 if port < self.high else self.low
        used.add(port)
        self._next[key] = port + 1 if port < self.high else self.low
        return port

    def release(self, backend_ip: int, backend_port: int, port: int) -> None:
        """The mapping using ``port`` towards the backend is gone."""
        used = self.in_use.get((backend_ip, backend_port))
        if used is not None:
            used.discard(port)
