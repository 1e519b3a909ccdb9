"""Rendering a validated scenario back to YAML with units (what ``lbsim check`` shows).

Theory of operation:
    The schema's field types serialize to text with units in pydantic's JSON mode
    (``"10ms"``, ``"exp(5ms)"``), so ``model_dump(mode="json")`` is already the file a
    person would write. Keys that are None are left out (None is every such key's
    default), and the YAML layout is chosen for reading: a small mapping of plain values
    (a link, a pool, the costs) fits on one line; anything larger is a block.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

__all__ = ["dump_yaml"]


class _ReadableDumper(yaml.SafeDumper):
    """Safe YAML dumper: small mappings of scalars on one line, the rest as blocks."""

    def represent_dict(self, data: Any) -> yaml.MappingNode:
        values = list(data.values())
        small = len(values) <= 4 and not any(isinstance(v, dict | list) for v in values)
        return self.represent_mapping("tag:yaml.org,2002:map", data, flow_style=small)

    def represent_list(self, data: Any) -> yaml.SequenceNode:
        scalars = not any(isinstance(item, dict | list) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=scalars)


_ReadableDumper.add_representer(dict, _ReadableDumper.represent_dict)
_ReadableDumper.add_representer(list, _ReadableDumper.represent_list)


def dump_yaml(model: BaseModel) -> str:
    """Render a scenario model as YAML text with units.

    Args:
        model: A validated scenario (or any part of one).

    Returns:
        YAML that validates back into an equal model.
    """
    data = model.model_dump(mode="json", exclude_none=True)
    return yaml.dump(data, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100)
