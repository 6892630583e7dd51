"""The specs are the single source of truth: valid OpenAPI, in both profiles, every rule traced to a clause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from harness.decisions import decisions
from harness.specs import SPECS_DIR, load_spec

SPECS = sorted(str(p.relative_to(SPECS_DIR)) for p in SPECS_DIR.rglob("*.yaml") if p.name not in ("decisions.yaml", "requirements.yaml"))


def walk(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("profile", ["strict", "tolerant"])
def test_spec_is_valid_openapi_in_both_profiles(spec: str, profile: str) -> None:
    validate(load_spec(spec, profile))


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.startswith("harness/")])
def test_every_operation_and_field_names_its_clause(spec: str) -> None:
    doc = load_spec(spec)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                assert operation.get("x-clause"), f"{method.upper()} {path} has no x-clause"
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        for prop, sub in schema.get("properties", {}).items():
            if name not in ("GeneralReply",):
                assert sub.get("x-clause") or sub.get("$ref"), f"{name}.{prop} has no x-clause"


def test_every_referenced_decision_exists_and_has_both_treatments() -> None:
    register = decisions()
    for decision in register.values():
        assert decision.strict and decision.tolerant and decision.clause and decision.issue, decision.id
    referenced = set()
    for spec in SPECS:
        text = (SPECS_DIR / spec).read_text(encoding="utf-8")
        for _, node in walk(yaml.safe_load(text)):
            if "x-decision" in node:
                referenced.add(node["x-decision"])
    from harness.rules import RuleSet
    from harness.yxc import rules as yxc_rules

    referenced |= {r.decision for r in yxc_rules.install(RuleSet("yxc")) if r.decision}
    missing = referenced - set(register)
    assert not missing, f"decisions referenced but not in specs/decisions.yaml: {missing}"


def test_yxc_file_types_cover_every_type_of_the_seed() -> None:
    doc = load_spec("yxc/province.yaml")
    declared = set(doc["x-file-types"])
    enum = set(doc["paths"]["/imageup/{type}"]["post"]["parameters"][0]["schema"]["enum"])
    assert declared == enum
    assert len(declared) == 39
    assert doc["x-file-types"]["stucontract"]["max_bytes"] == 5 * 1024 * 1024
    assert doc["x-file-types"]["trainvideo"]["formats"] == ["mp4"]


def test_every_yxc_rule_has_a_clause_and_unique_id() -> None:
    from harness.rules import DuplicateRule, RuleSet
    from harness.yxc import rules as yxc_rules

    ruleset = yxc_rules.install(RuleSet("yxc"))
    assert len(ruleset) >= 20
    assert all(r.clause for r in ruleset)
    with pytest.raises(DuplicateRule):
        yxc_rules.install(ruleset)


def test_seed_reference_is_real() -> None:
    doc = load_spec("yxc/province.yaml")
    seeds = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    if seeds.exists():
        assert (seeds / doc["x-seed"]).exists()


@pytest.mark.parametrize("platform", ["yxc", "ymt", "zjpx", "dudu", "dym"])
def test_a_requirement_whose_rules_only_warn_is_not_listed_as_a_must(platform: str) -> None:
    """A requirement all of whose rules are SHOULD (a decision's strict reading) never fails a run; listing it as MUST
    showed regulators 'warning [MUST]' beside it."""
    import importlib

    from harness.conformance import catalogue

    rules = {r.id: r for r in importlib.import_module(f"harness.{platform}.rules").RULES}
    wrong = [
        r.id
        for r in catalogue.load(platform)
        if r.level == "MUST" and r.rules and all(rid in rules and rules[rid].level == "SHOULD" for rid in r.rules)
    ]
    assert not wrong, wrong
