"""The ZJPX specs are valid OpenAPI 3.0 in both profiles, and every operation and field names its clause."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from harness.decisions import decisions
from harness.specs import load_spec

SPECS = ("zjpx/supervision.yaml", "zjpx/learning-platform.yaml")


@pytest.mark.parametrize("profile", ["strict", "tolerant"])
@pytest.mark.parametrize("spec", SPECS)
def test_spec_is_valid_openapi(spec: str, profile: str) -> None:
    validate(load_spec(spec, profile))


def _walk(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


@pytest.mark.parametrize("spec", SPECS)
def test_every_operation_and_request_field_has_a_clause(spec: str) -> None:
    doc = load_spec(spec, "strict")
    for path, item in doc["paths"].items():
        if path.startswith("x-"):
            continue
        op = item["post"]
        assert op["x-clause"].startswith("002 §"), path
        body = op["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"]
        for where, node in _walk(body):
            for name, prop in node.get("properties", {}).items():
                assert prop.get("x-clause", "").startswith("002 "), f"{path}{where}/{name} has no clause"


@pytest.mark.parametrize("spec", SPECS)
def test_every_cited_decision_exists(spec: str) -> None:
    known = decisions()
    for where, node in _walk(load_spec(spec, "strict")):
        if "x-decision" in node:
            assert node["x-decision"] in known, where


def test_tolerant_profile_serves_the_mangled_paths_and_strict_does_not() -> None:
    strict, tolerant = load_spec(SPECS[0], "strict"), load_spec(SPECS[0], "tolerant")
    for mangled in ("/api/startStudy", "/api/v1thirdFaceCompare"):
        assert mangled not in strict["paths"]
        assert mangled in tolerant["paths"]


def test_zjpx_decisions_have_both_treatments() -> None:
    zjpx = [d for d in decisions().values() if d.platform == "zjpx"]
    assert len(zjpx) >= 20
    for d in zjpx:
        assert d.clause.startswith("002") and d.strict and d.tolerant, d.id


def test_x_rules_in_the_spec_match_the_rules_the_reference_applies() -> None:
    from harness.rules import RuleSet
    from harness.zjpx import rules

    catalogue = list(rules.install(RuleSet("zjpx")))
    doc = load_spec(SPECS[0], "strict")
    for path, item in doc["paths"].items():
        if path.startswith("x-"):
            continue
        op = item["post"]["operationId"].rsplit(".", 1)[-1]
        listed = [(r["id"], r["clause"]) for r in item["post"]["x-rules"]]
        assert listed == [(r.id, r.clause) for r in catalogue if op in r.operations], path
    covered = {r["id"] for item in doc["paths"].values() if "post" in item for r in item["post"]["x-rules"]}
    assert covered == {r.id for r in catalogue}
