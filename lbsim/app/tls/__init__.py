"""TLS 1.2 and 1.3 as a sans-IO model: handshake flights, records, tickets and CPU costs.

Theory of operation: TLS sits between TCP and the application. In the simulator it
changes three things, and the model provides exactly those:

* **time**: the handshake adds round trips before the first request byte (TLS 1.2
  full: 2; TLS 1.3 full, and resumption in either version: 1). The handshake is a
  script of *flights* (:mod:`~lbsim.app.tls.flights`), each one value sent as a
  mark in the TCP stream, so TCP carries them with its own segmentation, windows
  and losses;
* **bytes**: flights have their real sizes (certificates, signatures, record
  headers) and every application message grows by its records' overhead
  (:mod:`~lbsim.app.tls.wire`);
* **CPU**: signatures, verifications, key exchanges and bulk encryption
  (:mod:`~lbsim.app.tls.costs`), reported per step so the engine charges the core
  that does the work.

:class:`TlsEndpoint` (:mod:`~lbsim.app.tls.endpoint`) is one end of one connection:
``start``, ``receive`` and ``wrap`` take ``now`` and return what to send and what
it cost, with no clock or SimPy of their own. :mod:`lbsim.capture.tls` turns the
flights and records into real TLS bytes for packet captures.

Example (a fake wire; the engine uses TCP connections instead)::

    client = TlsEndpoint("client", "1.3")
    server = TlsEndpoint("server", "1.3", key="rsa2048", name="lb", resumption=True)
    (hello,) = client.start(0.0).send
    reply = server.receive(hello, 0.01)      # cpu: RSA sign + X25519
    done = client.receive(reply.send[0], 0.02)
    assert done.established                  # send done.send, then client.wrap(request)
"""

from __future__ import annotations

from lbsim.app.tls.costs import TlsCosts
from lbsim.app.tls.endpoint import DEFAULT_COSTS, TlsEndpoint, TlsStep, encrypt_cost
from lbsim.app.tls.flights import FLIGHTS, TlsProtocolError, build_flight, handshake_round_trips
from lbsim.app.tls.messages import Record, Ticket, TlsData, TlsHandshake
from lbsim.app.tls.wire import KEY_TYPES, TLS_VERSIONS, record_overhead

__all__ = [
    "DEFAULT_COSTS",
    "FLIGHTS",
    "KEY_TYPES",
    "TLS_VERSIONS",
    "Record",
    "Ticket",
    "TlsCosts",
    "TlsData",
    "TlsEndpoint",
    "TlsHandshake",
    "TlsProtocolError",
    "TlsStep",
    "build_flight",
    "encrypt_cost",
    "handshake_round_trips",
    "record_overhead",
]
