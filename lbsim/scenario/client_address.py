"""Scenario keys that carry the client's address past a proxy: ``proxy_protocol``.

Theory of operation: a balancer that forwards the client's own packets (layer-4
``nat`` and ``dsr``) leaves the client's address in them, so the backend sees it
as the peer. A balancer that opens connections of its own (layer-4 ``proxy``,
layer 7) hides it unless it writes it down: at layer 4 in a PROXY protocol
header before the client's bytes (``proxy_protocol: v1 | v2``, HAProxy's
specification), at layer 7 in request headers (``forwarded:``). This module
holds the one check that ties ``proxy_protocol`` to the layer-4 proxy mode, so
the schema only names the field.
"""

from __future__ import annotations

from typing import Literal

from lbsim.scenario.errors import KeyedValueError

__all__ = ["ProxyProtocol", "check_proxy_protocol"]

#: PROXY protocol versions a layer-4 proxy can write.
ProxyProtocol = Literal["v1", "v2"]


def check_proxy_protocol(layer: int, mode: str | None, value: str | None) -> None:
    """Refuse ``proxy_protocol`` on balancers that do not open backend connections.

    Args:
        layer: The balancer's layer.
        mode: Its layer-4 mode (None at layer 7).
        value: Its ``proxy_protocol`` setting.

    Raises:
        KeyedValueError: At ``proxy_protocol``, when set anywhere but layer-4 proxy mode.
    """
    if value is None or (layer == 4 and mode == "proxy"):
        return
    if layer == 7:
        why = (
            "a layer-7 balancer passes the client's address on in request headers; "
            "use forwarded: (X-Forwarded-For, or RFC 7239 Forwarded)"
        )
    else:
        why = (
            f"in {mode} mode the client's own packets reach the backend, which sees "
            "the client's address already; the header is for mode: proxy"
        )
    raise KeyedValueError("proxy_protocol", f"applies only to layer-4 proxy mode: {why}")
