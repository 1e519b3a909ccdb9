"""The report figure set: ``lbsim figures`` in Python.

Theory of operation: ``registry`` defines what a report figure is (a name, a
caption, declared data needs and a draw function) and holds :data:`REGISTRY`;
``catalog`` fills it, one entry per figure; ``build`` computes the data of the
selected figures over one executor, draws them, saves PNG and SVG and writes
``figures/README.md``. Importing this package registers the catalog.

Typical use::

    from lbsim.report import regenerate
    from lbsim.sweep import open_executor
    regenerate("figures", executor=open_executor(jobs=2))
"""

from lbsim.report import catalog as _catalog  # noqa: F401  (registers the figures)
from lbsim.report.build import (
    FORMATS,
    BuildProgress,
    DataFailed,
    FigureReport,
    compute_run,
    readme_text,
    regenerate,
)
from lbsim.report.registry import (
    REGISTRY,
    DataSpec,
    FigureRegistry,
    Inputs,
    ReportFigure,
    RunData,
    SweepData,
)

__all__ = [
    "FORMATS",
    "REGISTRY",
    "BuildProgress",
    "DataFailed",
    "DataSpec",
    "FigureRegistry",
    "FigureReport",
    "Inputs",
    "ReportFigure",
    "RunData",
    "SweepData",
    "compute_run",
    "readme_text",
    "regenerate",
]
