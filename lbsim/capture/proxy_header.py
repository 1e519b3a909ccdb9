"""Capture plugin: the bytes of a PROXY protocol header in a backend-side stream.

Theory of operation: a splicing proxy configured with ``proxy_protocol`` queues a
:class:`~lbsim.app.proxy_protocol.ProxyHeader` as the first message of each of
its backend connections. Its encoding is the header itself, byte for byte (the
message is exactly as long as its encoding), so Wireshark's ``proxy`` dissector
reads the version-1 line or the version-2 block, and the HTTP (or TLS) bytes that
follow start right after it, as on a real wire.
"""

from __future__ import annotations

from lbsim.app.proxy_protocol import ProxyHeader
from lbsim.capture.payload import HeadAndBody, register_encoder


def encode_proxy_header(header: ProxyHeader) -> HeadAndBody:
    """The header's exact bytes (no filler: the head is the whole message)."""
    data = header.encode()
    return HeadAndBody(data, len(data))


register_encoder(ProxyHeader, encode_proxy_header)
