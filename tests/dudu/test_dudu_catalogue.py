"""specs/dudu/requirements.yaml and the code stay in step: every reference rule is catalogued with its clause, every
check names catalogue ids only, every check the catalogue lists exists and names the entry, and every entry says why
it has its level."""

from __future__ import annotations

from harness.conformance import catalogue
from harness.conformance.catalogue import observable
from harness.dudu import rules
from harness.dudu.certify import CHECKS, DuduDeviceBackendRole


def test_every_dudu_rule_is_in_the_catalogue_with_its_clause() -> None:
    reqs = catalogue.by_id("dudu")
    for rule in rules.RULES:
        req = reqs[rule.id]
        assert req.clause == rule.clause and req.text == rule.title and req.decision == rule.decision, rule.id
        assert rule.id in req.rules


def test_checks_and_catalogue_name_each_other() -> None:
    reqs = catalogue.by_id("dudu")
    checks = {c.id: c for c in CHECKS}
    for check in CHECKS:
        assert set(check.requirements) <= set(reqs), (check.id, set(check.requirements) - set(reqs))
        assert check.id in reqs and reqs[check.id].level == check.level, check.id  # each check has its own entry
    for req in reqs.values():
        for check_id in req.checks:
            assert check_id in checks and req.id in checks[check_id].requirements, (req.id, check_id)


def test_every_entry_has_a_level_and_the_reason_for_it() -> None:
    for req in catalogue.load("dudu"):
        assert req.level in ("MUST", "SHOULD", "REVIEW") and req.level_reason, req.id
        assert req.clause.startswith("003") or "D-DUDU" in req.clause, req.id


def test_the_role_observes_what_its_checks_name_and_not_the_unregistered_device_rule() -> None:
    role = DuduDeviceBackendRole.name
    kept = {r.id for r in observable(catalogue.load("dudu"), role, (c.id for c in CHECKS), CHECKS.requirement_ids())}
    assert CHECKS.requirement_ids() <= kept and "DUDU-DEVICE-KNOWN" not in kept
