"""The OSI layers, and which of them each component of a run reads, rewrites or ends.

Theory of operation: this is concept C3 as data. Every node of a run is one of a
few *kinds*: a client and a backend are endpoints and work at every layer; a
balancer reads (and perhaps rewrites) the headers up to the layer it works at:

=============  ===========  ==========  =====================  ==========================
component      reads        rewrites    terminates             because
=============  ===========  ==========  =====================  ==========================
client         L1-L7        --          (endpoint)             it writes every header
L4 NAT         L2-L4        L3-L4       --                     VIP -> backend, and back
L4 DSR         L2-L4        L2          --                     only the frame's next hop
L4 proxy       L2-L4        --          L4                     its own TCP connection
L7 proxy       L2-L7        --          L4 (and L6 with TLS)   parses HTTP to route
backend        L1-L7        --          (endpoint)             serves the request
=============  ===========  ==========  =====================  ==========================

"Terminates" means the component is a TCP endpoint itself: the bytes leave on a
different connection (other 4-tuple, other sequence numbers), so nothing of the
incoming L3/L4 headers survives. The table is a *declaration*; the per-hop view
(:mod:`lbsim.teach.hops`) checks it against what the trace shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lbsim.scenario.schema import BalancerConfig

__all__ = [
    "LAYER_NAMES",
    "ComponentLayers",
    "balancer_kind",
    "component_layers",
    "layer_span",
    "layer_table",
]

#: OSI layer number -> name, with what lbsim models there.
LAYER_NAMES = {
    7: "L7 application (HTTP)",
    6: "L6 presentation (TLS)",
    5: "L5 session",
    4: "L4 transport (TCP)",
    3: "L3 network (IP)",
    2: "L2 data link (frame)",
    1: "L1 physical (wire)",
}

#: Component kinds, in the order of a request's path.
KINDS = ("client", "l4-nat", "l4-dsr", "l4-proxy", "l7", "backend")


@dataclass(frozen=True, slots=True)
class ComponentLayers:
    """What one kind of component does at each layer.

    Attributes:
        kind: ``client``, ``l4-nat``, ``l4-dsr``, ``l4-proxy``, ``l7`` or ``backend``.
        label: Human name, e.g. ``L4 balancer (NAT)``.
        reads: Layers whose headers it reads.
        rewrites: Layers whose header fields it changes on a packet it forwards.
        terminates: Layers at which it is itself an endpoint (a new connection or
            TLS session leaves it); empty for forwarders.
        endpoint: Whether it is where the traffic starts or ends (client, backend).
        why: One sentence on why.
    """

    kind: str
    label: str
    reads: tuple[int, ...]
    rewrites: tuple[int, ...]
    terminates: tuple[int, ...]
    endpoint: bool
    why: str

    def summary(self) -> str:
        """E.g. ``reads L2–L4, rewrites L3–L4``."""
        parts = [f"reads {layer_span(self.reads)}"]
        if self.rewrites:
            parts.append(f"rewrites {layer_span(self.rewrites)}")
        if self.terminates:
            parts.append(f"terminates {layer_span(self.terminates)}")
        if self.endpoint:
            parts.append("endpoint")
        return ", ".join(parts)


def layer_span(layers: tuple[int, ...]) -> str:
    """Compact text for a set of layers: ``(2, 3, 4)`` -> ``L2–L4``, ``(4, 6)`` -> ``L4, L6``."""
    if not layers:
        return "–"
    ordered = sorted(set(layers))
    runs: list[list[int]] = [[ordered[0]]]
    for layer in ordered[1:]:
        if layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return ", ".join(f"L{r[0]}" if len(r) == 1 else f"L{r[0]}–L{r[-1]}" for r in runs)


def component_layers(kind: str, *, tls: bool = False) -> ComponentLayers:
    """The layer roles of a component kind.

    Args:
        kind: One of ``client``, ``l4-nat``, ``l4-dsr``, ``l4-proxy``, ``l7``,
            ``backend``.
        tls: Whether the traffic is TLS-protected (an L7 balancer then ends the
            TLS session too; an L4 one passes it through unopened).

    Raises:
        ValueError: On an unknown kind.
    """
    every = (1, 2, 3, 4, 5, 6, 7)
    if kind == "client":
        return ComponentLayers(
            kind, "client", every, (), (), True, "it writes every header of what it sends"
        )
    if kind == "backend":
        return ComponentLayers(
            kind, "backend", every, (), (), True, "it reads the request and writes the answer"
        )
    passthrough = " TLS passes through unopened." if tls else ""
    if kind == "l4-nat":
        return ComponentLayers(
            kind,
            "L4 balancer (NAT)",
            (2, 3, 4),
            (3, 4),
            (),
            False,
            "it swaps VIP:port for backend:port on the way in, and back on the way out; "
            "the payload is opaque to it." + passthrough,
        )
    if kind == "l4-dsr":
        return ComponentLayers(
            kind,
            "L4 balancer (DSR)",
            (2, 3, 4),
            (2,),
            (),
            False,
            "it only sends the frame on to the chosen backend, which owns the VIP too and "
            "answers the client directly." + passthrough,
        )
    if kind == "l4-proxy":
        return ComponentLayers(
            kind,
            "L4 balancer (proxy)",
            (2, 3, 4),
            (),
            (4,),
            False,
            "it ends the client's TCP connection and relays the bytes on its own "
            "connection to the backend, without reading them." + passthrough,
        )
    if kind == "l7":
        return ComponentLayers(
            kind,
            "L7 balancer",
            (2, 3, 4, 5, 6, 7),
            (),
            (4, 6) if tls else (4,),
            False,
            "it ends the client's TCP connection"
            + (" and TLS session" if tls else "")
            + ", reads each HTTP request, and sends it on its own connection to the "
            "backend it chose.",
        )
    raise ValueError(f"unknown component kind {kind!r} (known: {', '.join(KINDS)})")


def balancer_kind(balancer: BalancerConfig) -> str:
    """The component kind of a balancer variant (``l4-nat``, ``l4-dsr``, ``l4-proxy``, ``l7``)."""
    if balancer.layer == 7:
        return "l7"
    return f"l4-{balancer.mode or 'nat'}"


def layer_table(*, tls: bool = False) -> pd.DataFrame:
    """Concept C3 as a table: one row per component kind.

    Args:
        tls: Describe the roles when the traffic uses TLS.

    Returns:
        Columns ``component``, ``reads``, ``rewrites``, ``terminates``, ``why``.
    """
    rows = []
    for kind in KINDS:
        c = component_layers(kind, tls=tls)
        rows.append(
            {
                "component": c.label,
                "reads": layer_span(c.reads),
                "rewrites": layer_span(c.rewrites),
                "terminates": "(endpoint)" if c.endpoint else layer_span(c.terminates),
                "why": c.why,
            }
        )
    return pd.DataFrame(rows)
