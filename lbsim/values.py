"""Reading one parameter value written as text, the way a sweep grid writes it.

Theory of operation: sweep grids (``--grid PATH=V1,V2``), sweep tables and the
figures drawn from them all need to turn a value as written (``4``, ``0.5``,
``true``, ``10ms``) back into what it means. A value is read as a YAML scalar
with the scenario loader's YAML 1.2 number rules (``1e3`` is a number, ``010``
is ten); anything YAML reads as a list or mapping, or cannot read, stays the
text it was. A leaf utility: it imports only the scenario loader (another
leaf), so both ``sweep`` and ``plots`` may use it.
"""

from __future__ import annotations

from typing import Any

import yaml

from lbsim.scenario.yamlload import load_yaml


def parse_value(text: str) -> Any:
    """Read one grid value as YAML; anything but a plain scalar stays text.

    Args:
        text: The value as written.

    Returns:
        An int, float, bool or None when YAML reads it so, otherwise ``text``.
    """
    try:
        value = load_yaml(text)
    except (yaml.YAMLError, ValueError):
        return text
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return text
