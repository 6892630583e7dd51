"""What a generated negative case broke, in words a reader of the report can check.

Schemathesis's negative mode mutates a valid request until the schema no longer accepts it, but the case does not
carry a readable account of the mutation. The account is recomputed here from the schema the case was generated
from: every constraint the body breaks, with its field path, the JSON Schema keyword, what the schema expects and
what was sent. The evidence of every negative case carries this list, so a finding says *which* constraint the
generated request broke, not only that it was "invalid".
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

SENT_CHARS = 80  # a sent value longer than this (serialised) is cut in the account


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SENT_CHARS else text[: SENT_CHARS - 1] + "…"


def _field(error: jsonschema.ValidationError, prefix: str) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required" and "'" in error.message:
        parts.append(error.message.split("'")[1])
    return ".".join([prefix, *parts]) if prefix else ".".join(parts) or "(body)"


def broken_constraints(schema: dict[str, Any], body: Any, *, prefix: str = "body", limit: int = 5) -> list[dict[str, str]]:
    """Every constraint of ``schema`` that ``body`` breaks (at most ``limit``), most specific first:
    ``{"field", "keyword", "expected", "sent"}``. Empty when the body is valid."""
    validator = jsonschema.Draft4Validator(schema)
    errors = sorted(validator.iter_errors(body), key=lambda e: (-len(e.absolute_path), [str(p) for p in e.absolute_path]))
    out = []
    for error in errors[:limit]:
        out.append(
            {
                "field": _field(error, prefix),
                "keyword": str(error.validator),
                "expected": _short(error.validator_value),
                "sent": _short(error.instance) if error.validator != "required" else "(absent)",
            }
        )
    return out


def describe(broken: list[dict[str, str]]) -> str:
    """One line: ``body.data.x: maximum (expected 9999, sent 10000); …``."""
    if not broken:
        return "no schema constraint broken (the case differs only in what the schema does not constrain)"
    return "; ".join(f"{b['field']}: {b['keyword']} (expected {b['expected']}, sent {b['sent']})" for b in broken)
