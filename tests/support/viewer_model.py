"""Reading the JSON model a packet viewer page carries (for the viewer tests)."""

from __future__ import annotations

import json
import re
from typing import Any

_DATA = re.compile(r'<script type="application/json" id="lbsim-data">(.*?)</script>', re.S)


def page_model(html: str) -> dict[str, Any]:
    """The model of a viewer page (the ``#lbsim-data`` element's JSON)."""
    found = _DATA.search(html)
    assert found is not None, "no #lbsim-data element in the page"
    model: dict[str, Any] = json.loads(found.group(1).replace("<\\/", "</"))
    return model
