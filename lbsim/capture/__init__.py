"""Packet captures of simulated runs, for Wireshark.

Theory of operation: a :class:`VariantCapture` taps every link of one variant's
run and writes two classic pcap files, captured at the balancer: one for the
client side and one for the backend side, with Ethernet/IPv4/TCP headers as the
simulator sent them and payload bytes synthesized from the application messages
(HTTP/1.1 heads and filler bodies; TLS records on TLS connections), so Wireshark
decodes the requests and responses. :func:`capture_variant` and
:func:`capture_scenario` run variants with a capture attached;
:class:`CaptureLimits` keeps the files small. See ``docs/wireshark.md``.

Modules: :mod:`~lbsim.capture.capture` (the tap, ordering, spooling),
:mod:`~lbsim.capture.run` (running variants with a capture),
:mod:`~lbsim.capture.payload` (bytes from message marks; the per-message-type
encoder registry), :mod:`~lbsim.capture.tls` and :mod:`~lbsim.capture.der` (TLS
records and certificates), :mod:`~lbsim.capture.proxy_header` (PROXY protocol
headers), :mod:`~lbsim.capture.pcap` (frames, checksums, pcap
files), :mod:`~lbsim.capture.limits` and :mod:`~lbsim.capture.options` (the
``--pcap`` command-line options). Names are imported on first use, so the command
line's ``--help`` does not pay for the engine. Encoders of other protocols than
HTTP are plugins: each registers itself with the payload registry when imported,
and this package imports them (:data:`PLUGINS`) so every capture knows them; the
registry module itself imports no plugin.

Layer: may import ``app``, ``net``, ``sim``/``run`` and the leaf utilities.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: Payload encoder plugins, imported with the package (each registers itself).
PLUGINS = ("tls", "proxy_header")
for _plugin in PLUGINS:
    import_module(f"lbsim.capture.{_plugin}")

if TYPE_CHECKING:
    from lbsim.capture.capture import CaptureFiles, VariantCapture
    from lbsim.capture.limits import CaptureLimits, parse_window
    from lbsim.capture.payload import register_encoder
    from lbsim.capture.pcap import read_pcap
    from lbsim.capture.run import capture_scenario, capture_variant

__all__ = [
    "CaptureFiles",
    "CaptureLimits",
    "VariantCapture",
    "capture_scenario",
    "capture_variant",
    "parse_window",
    "read_pcap",
    "register_encoder",
]

_HOMES = {
    "CaptureFiles": "capture",
    "VariantCapture": "capture",
    "capture_scenario": "run",
    "capture_variant": "run",
    "CaptureLimits": "limits",
    "parse_window": "limits",
    "register_encoder": "payload",
    "read_pcap": "pcap",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'lbsim.capture' has no attribute {name!r}")
    return getattr(import_module(f"lbsim.capture.{home}"), name)
