"""The base of every model of the scenario schema.

Theory of operation:
    Every scenario model is frozen (a validated scenario never changes), refuses
    unknown keys (a misspelt key is an error, not a silent default) and refuses
    ``inf`` and ``nan``. The models of each concept subclass :class:`SchemaModel` so
    that all of them share these three rules.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["SchemaModel"]


class SchemaModel(BaseModel):
    """Base of all scenario models: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
