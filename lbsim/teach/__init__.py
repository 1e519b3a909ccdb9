"""Teaching views of a run: per-hop OSI layer tables and ladder diagrams.

Theory of operation: this package is presentation only. It runs a variant with
every segment traced (:mod:`~lbsim.teach.trace`), follows one request through the
trace (:mod:`~lbsim.teach.follow`), and shows it two ways:

* :func:`layer_view` (:mod:`~lbsim.teach.layerview`, built from
  :mod:`~lbsim.teach.fields`, rendered by :mod:`~lbsim.teach.hops`): for each
  component on the request's path, which OSI layers it read and which header fields
  it rewrote or replaced, before and after (concept C3, and C1, C6, C8, C9, C15,
  C16 through the evidence it shows);
* :func:`ladder_figure` (:mod:`~lbsim.teach.ladder`, segments picked by
  :mod:`~lbsim.teach.ladder_select`, labels by
  :mod:`~lbsim.teach.labels`): a sequence ("ladder") diagram of the request's
  connection(s), client | balancer | backend, time flowing down.

:func:`layer_table` (:mod:`~lbsim.teach.layers`) is concept C3 as a table,
independent of any run. :func:`view` (:mod:`~lbsim.teach.viewer`) is the
step-through packet viewer: every segment of a window of a run, L4 and L7 side
by side, as one self-contained HTML page. On a scenario with ``topology:`` a
request is followed across every tier instance instead
(:mod:`~lbsim.teach.tier_trace`, elements named by
:mod:`~lbsim.teach.tier_nodes`, its ladder by :mod:`~lbsim.teach.tier_ladder`),
and the viewer draws the topology (:mod:`~lbsim.teach.viewer.tier_model`) and
follows chosen connections through it (:mod:`~lbsim.teach.viewer.tier_select`).
Nothing here changes what the engine does; the notebooks in ``notebooks/``,
``lbsim trace`` (:mod:`~lbsim.teach.report`) and ``lbsim view`` are its users.
"""

from lbsim.teach.follow import Leg, RequestPath, follow_request
from lbsim.teach.hops import FieldRow, Hop, LayerView
from lbsim.teach.ladder import ladder_figure, ladder_segments
from lbsim.teach.layers import (
    LAYER_NAMES,
    ComponentLayers,
    balancer_kind,
    component_layers,
    layer_span,
    layer_table,
)
from lbsim.teach.layerview import layer_view
from lbsim.teach.trace import LinkInfo, Trace, arrival_times, trace_variant
from lbsim.teach.viewer import PageTooLarge, ViewerPage, view

__all__ = [
    "LAYER_NAMES",
    "ComponentLayers",
    "FieldRow",
    "Hop",
    "LayerView",
    "Leg",
    "LinkInfo",
    "PageTooLarge",
    "RequestPath",
    "Trace",
    "ViewerPage",
    "arrival_times",
    "balancer_kind",
    "component_layers",
    "follow_request",
    "ladder_figure",
    "ladder_segments",
    "layer_span",
    "layer_table",
    "layer_view",
    "trace_variant",
    "view",
]
