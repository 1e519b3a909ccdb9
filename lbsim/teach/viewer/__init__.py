"""Step-through packet viewer: every packet of a run, hop by hop, in one offline page.

Theory of operation: :func:`view` runs the chosen balancer variants of a scenario
on the same workload with every segment traced and captured
(:mod:`~lbsim.teach.viewer.model`, frames from :mod:`~lbsim.teach.viewer.frames`,
decisions from the engine's :class:`~lbsim.records.DecisionRecord` values and
:mod:`~lbsim.teach.decisions`), and builds one self-contained HTML page
(:mod:`~lbsim.teach.viewer.page`; the page's script and style are the package
data in ``static/``). ``lbsim view`` writes it to a file; in Jupyter the returned
:class:`ViewerPage` shows inline.
"""

from lbsim.teach.viewer.model import MAX_EVENTS, PageTooLarge, ViewerLimits
from lbsim.teach.viewer.page import ViewerPage, build_page, view

__all__ = ["MAX_EVENTS", "PageTooLarge", "ViewerLimits", "ViewerPage", "build_page", "view"]
