"""IPv4 addresses as integers, and the address plan of a simulated run.

Theory of operation: on the hot path an address is a plain ``int`` (hashing and
comparing ints is cheaper than strings); it is formatted as dotted quad only when
records are written. The address plan uses documentation and private ranges so a
student can tell the roles apart at a glance:

* the balancer's virtual address (VIP) is ``203.0.113.10`` (TEST-NET-3, RFC 5737),
  port 80 (443 with TLS);
* clients live in ``100.64.0.0/10`` (shared address space, RFC 6598), one address
  per client host;
* the balancer's inside address is ``10.0.0.1``;
* instance ``i`` (1-based) of balancer tier ``t`` (0-based) of a scenario's
  ``topology:`` is ``172.16.(t+1).i`` (RFC 1918): its own address towards what it
  balances over;
* backend group ``g`` (0-based) instance ``i`` (1-based) is ``10.0.(g+1).i`` and
  listens on port 8080 (8443 for TLS), so L4 NAT visibly rewrites both address
  and port.
"""

from __future__ import annotations

import functools

VIP = (203 << 24) | (0 << 16) | (113 << 8) | 10
VIP_PORT = 80
#: The VIP's port for TLS clients (Wireshark decodes TLS on 443 by default).
VIP_TLS_PORT = 443
LB_INSIDE = (10 << 24) | 1
BACKEND_PORT = 8080
#: Backends' TLS port (L4 passthrough and L7 re-encryption).
BACKEND_TLS_PORT = 8443
#: Where an L4 NAT balancer sends each VIP port, and back.
NAT_PORTS = {VIP_PORT: BACKEND_PORT, VIP_TLS_PORT: BACKEND_TLS_PORT}
NAT_PORTS_BACK = {BACKEND_PORT: VIP_PORT, BACKEND_TLS_PORT: VIP_TLS_PORT}
CLIENT_BASE = (100 << 24) | (64 << 16)
#: Linux default ephemeral port range (net.ipv4.ip_local_port_range).
EPHEMERAL_PORTS = (32768, 60999)


def ip_to_str(addr: int) -> str:
    """Format an integer IPv4 address as a dotted quad.

    Args:
        addr: Address as an unsigned 32-bit integer.

    Returns:
        The dotted-quad text, e.g. ``"10.0.1.2"``.
    """
    return f"{addr >> 24 & 255}.{addr >> 16 & 255}.{addr >> 8 & 255}.{addr & 255}"


#: :func:`ip_to_str` behind a bounded cache, for records written per request and per
#: connection: a run names few distinct addresses (clients, VIP, inside addresses),
#: so each is formatted about once per process.
ip_text = functools.lru_cache(maxsize=1 << 12)(ip_to_str)


def ip_from_str(text: str) -> int:
    """Parse a dotted-quad IPv4 address.

    Args:
        text: Address such as ``"10.0.1.2"``.

    Returns:
        The address as an unsigned 32-bit integer.

    Raises:
        ValueError: If ``text`` is not a dotted quad of bytes.
    """
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"not an IPv4 address: {text!r}")
    value = 0
    for part in parts:
        value = value << 8 | int(part)
    return value


def endpoint_str(addr: int, port: int) -> str:
    """Format an address and port as ``ip:port`` (the address through :data:`ip_text`)."""
    return f"{ip_text(addr)}:{port}"


def client_address(index: int) -> int:
    """Address of the ``index``-th client host (0-based) in the whole run."""
    if not 0 <= index < (1 << 22) - 2:
        raise ValueError(f"client host index out of range: {index}")
    return CLIENT_BASE + 1 + index


def backend_address(group_index: int, instance: int) -> int:
    """Address of instance ``instance`` (1-based) of backend group ``group_index``."""
    if not (0 <= group_index < 254 and 1 <= instance < 255):
        raise ValueError("at most 254 backend groups of 254 instances are addressable")
    return (10 << 24) | ((group_index + 1) << 8) | instance


def tier_address(tier_index: int, instance: int) -> int:
    """Own address of instance ``instance`` (1-based) of topology tier ``tier_index``."""
    if not (0 <= tier_index < 254 and 1 <= instance < 255):
        raise ValueError("at most 254 tiers of 254 instances are addressable")
    return (172 << 24) | (16 << 16) | ((tier_index + 1) << 8) | instance
