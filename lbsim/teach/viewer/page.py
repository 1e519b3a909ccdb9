r"""The viewer page: one self-contained HTML file, and the same page inline in Jupyter.

Theory of operation: :func:`view` runs the chosen variants on the same scenario
and seed (:func:`lbsim.teach.viewer.model.variant_model`), collects their models
into one JSON document and fills the page template with it. The template, its
style sheet and its script (``viewer-*.js``: parts of one function, joined in name
order) are package data (``static/``), read with :mod:`importlib.resources`, and
inlined: the page makes no network request of any
kind (a Content-Security-Policy of ``default-src 'none'`` says so to the browser
too), so it opens from a file on a USB stick in a classroom without internet.

The JSON sits in a ``<script type="application/json">`` element; the one sequence
that could end that element early, ``</``, is written ``<\/`` (the same string to
a JSON parser). :class:`ViewerPage` holds the page; in Jupyter its
``_repr_html_`` puts it in an ``iframe`` (``srcdoc``) so the page's script and
style cannot touch the notebook's.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lbsim import __version__
from lbsim.scenario import Scenario
from lbsim.teach.viewer.model import PageTooLarge, Strings, ViewerLimits, variant_model

__all__ = ["ViewerPage", "build_page", "view"]


@dataclass(frozen=True)
class ViewerPage:
    """A built viewer page.

    Attributes:
        html: The whole page (one self-contained HTML document).
        events: Events per variant.
    """

    html: str
    events: dict[str, int]

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` (UTF-8) and return the path."""
        target = Path(path)
        target.write_text(self.html, encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        """The page in an isolated iframe, for Jupyter."""
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            'style="width:100%;height:960px;border:1px solid #ccd;" '
            'title="lbsim packet viewer"></iframe>'
        )


def _static(name: str) -> str:
    return resources.files("lbsim.teach.viewer").joinpath("static", name).read_text("utf-8")


def _script() -> str:
    """The page's script: the ``viewer-*.js`` parts, in name order, as one script."""
    folder = resources.files("lbsim.teach.viewer").joinpath("static")
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith("viewer-"))
    return "\n".join(_static(name) for name in names if name.endswith(".js"))


def _limits_text(limits: ViewerLimits) -> str:
    parts = []
    if limits.window is not None:
        t0, t1 = limits.window
        parts.append(f"{t0:g} s to {'end' if math.isinf(t1) else f'{t1:g} s'}")
    if limits.connections is not None:
        parts.append(f"first {limits.connections} connections")
    if limits.client is not None:
        parts.append(f"client {limits.client}")
    return ", ".join(parts) or "whole run"


def build_page(
    scenario: Scenario, models: list[dict[str, Any]], strings: Strings, limits: ViewerLimits
) -> str:
    """Fill the page template with the variants' models.

    Args:
        scenario: The scenario that was run.
        models: One :func:`~lbsim.teach.viewer.model.variant_model` per variant.
        strings: The string table the models index into.
        limits: What the page shows.

    Returns:
        The HTML document.
    """
    title = f"lbsim packet viewer: {scenario.name}"
    data = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "window": list(limits.window)
        if limits.window and not math.isinf(limits.window[1])
        else None,
        "limits": _limits_text(limits),
        "strings": strings.values,
        "variants": models,
        "footer": f"Made by lbsim {__version__} (simulated, not measured). Keys: Space "
        "play/pause, Left/Right step. Highlighted cells: fields the device changed.",
    }
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    page = _static("viewer.html")
    # Replace the data last: the other pieces must not be searched inside it.
    page = page.replace("__TITLE__", html.escape(title))
    page = page.replace("__CSS__", _static("viewer.css"))
    page = page.replace("__JS__", _script())
    return page.replace("__DATA__", payload)


def view(
    scenario: Scenario,
    variants: Sequence[str] | None = None,
    *,
    window: tuple[float, float] | None = None,
    connections: int | None = None,
    client: str | None = None,
    max_events: int | None = None,
) -> ViewerPage:
    """Run variants of a scenario and build the step-through packet viewer.

    Args:
        scenario: A validated scenario (keep it short, or use the limits).
        variants: Balancer variants to show side by side (default: all).
        window: Only segments sent at ``t0 <= time < t1`` seconds.
        connections: Only the first N client connections of each variant.
        client: Only one client host, client group or client address.
        max_events: Refuse past this many events (default
            :data:`~lbsim.teach.viewer.model.MAX_EVENTS`).

    Returns:
        The page (``.html``, ``.save(path)``; shown inline by Jupyter).

    Raises:
        PageTooLarge: Past ``max_events``; the message names the option to use.
        KeyError: On an unknown variant.
        ValueError: On bad limits (a client the scenario does not have, ...).
    """
    from lbsim.capture.limits import client_addresses
    from lbsim.sim import variant_names
    from lbsim.teach.viewer import model as _model

    # Read at call time, so the limit can be changed (tests, notebooks).
    limit = _model.MAX_EVENTS if max_events is None else max_events
    limits = ViewerLimits(window, connections, client, limit)
    limits.capture_limits(0.0)  # range checks
    if client is not None:
        client_addresses(scenario, client)
    names = variant_names(scenario, list(variants) if variants else None)
    strings = Strings()
    models: list[dict[str, Any]] = []
    left = limits.max_events
    for name in names:
        try:
            model = variant_model(scenario, name, limits, strings, left)
        except PageTooLarge:
            raise PageTooLarge(
                f"more than {limits.max_events:,} events in the page; {limits.hint()}"
            ) from None
        left -= model["count"]
        models.append(model)
    page = build_page(scenario, models, strings, limits)
    return ViewerPage(page, {m["name"]: m["count"] for m in models})
