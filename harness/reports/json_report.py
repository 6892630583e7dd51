"""report.json: the report document for machines."""

from __future__ import annotations

import json
from typing import Any


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
