"""specs/dudu/platform.yaml is a valid OpenAPI 3.0 document and traces every field to seed 003 or a decision."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from harness.decisions import decisions
from harness.specs import load_spec

SPEC = "dudu/platform.yaml"
OPERATIONS = {
    "get_token",
    "location_report",
    "get_card_list",
    "card_check",
    "card_check_log",
    "get_line_card_list",
    "get_qrcode_keys",
    "ticket_check",
    "offline_qrcode_log",
}


def _walk(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


@pytest.mark.parametrize("profile", ["strict", "tolerant"])
def test_spec_is_valid_openapi(profile: str) -> None:
    spec = load_spec(SPEC, profile)
    validate(spec)  # the tolerant variant too: its overrides use anyOf, not JSON Schema type lists
    assert {p.strip("/") for p in spec["paths"]} == OPERATIONS


def test_every_operation_and_field_has_a_clause() -> None:
    spec = load_spec(SPEC)
    for path, item in spec["paths"].items():
        assert item["post"].get("x-clause"), path
    for name, schema in spec["components"]["schemas"].items():
        if name == "ErrorReply":
            continue
        assert schema.get("x-clause"), name
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("x-clause"), f"{name}.{field}"


def test_every_decision_cited_exists_and_dudu_decisions_are_used() -> None:
    spec = load_spec(SPEC)
    cited = {node["x-decision"] for _, node in _walk(spec) if "x-decision" in node}
    known = decisions()
    assert cited <= set(known), cited - set(known)
    for d in known.values():
        if d.platform == "dudu":
            assert d.strict and d.tolerant


def test_designed_parts_are_marked() -> None:
    spec = load_spec(SPEC)
    token = spec["paths"]["/get_token"]["post"]
    assert token["x-designed"] is True and token["x-decision"] == "D-DUDU-TOKEN"
    heartbeat = spec["components"]["schemas"]["LocationReply"]["properties"]
    assert heartbeat["heartbeat_interval"]["x-designed"] is True


def test_tolerant_profile_relaxes_types() -> None:
    strict = load_spec(SPEC)["components"]["schemas"]["LocationReport"]
    tolerant = load_spec(SPEC, "tolerant")["components"]["schemas"]["LocationReport"]
    assert strict["properties"]["check_mode"]["type"] == "integer"
    assert "1" in tolerant["properties"]["check_mode"]["enum"] and "type" not in tolerant["properties"]["check_mode"]
    assert strict["additionalProperties"] is False and tolerant["additionalProperties"] is True
