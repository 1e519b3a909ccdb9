"""Addresses as text for records, formatted once per address rather than per use.

Theory of operation: records name endpoints as dotted quads (``10.0.1.2``), alone or
in ``ip:port`` strings. A run writes such text for every request (the address the
backend saw) and every connection (its two ends), over a small set of addresses:
the clients, the VIP, the balancer's inside addresses. :func:`ip_text` is
:func:`lbsim.net.addresses.ip_to_str` behind a bounded cache, so each address is
formatted about once per process.
"""

from __future__ import annotations

import functools

from lbsim.net.addresses import ip_to_str

#: :func:`~lbsim.net.addresses.ip_to_str`, cached (a pure function of the address).
ip_text = functools.lru_cache(maxsize=1 << 12)(ip_to_str)
