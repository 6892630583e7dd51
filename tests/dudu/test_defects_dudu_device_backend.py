"""The dudu-device-backend defect table (examples/defects/dudu-device-backend.yaml): the conforming device backend of
tests/dudu/device_sim.py passes; each planted defect makes exactly the checks its row lists FAILED (MUST) or WARNING
(SHOULD), naming their clause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures import dudu as fx
from harness.conformance.model import CheckFinished, CheckResult, RunFinished
from harness.conformance.roles import role_class
from harness.dudu.certify import DuduDeviceBackendRole
from tests.dudu.device_sim import DEFECTS, session

TABLE = yaml.safe_load((Path(__file__).parents[2] / "examples" / "defects" / "dudu-device-backend.yaml").read_text(encoding="utf-8"))
ROWS = TABLE["defects"]


def _grade(store: Any) -> tuple[str, list[CheckResult]]:
    events = list(DuduDeviceBackendRole(store, fx.ENTERPRISE).run(seed=1))
    assert isinstance(events[-1], RunFinished)
    return events[-1].verdict, [e.result for e in events if isinstance(e, CheckFinished)]


def test_the_conforming_backend_passes(served: Any) -> None:
    client, store = served
    session(client, store)
    verdict, results = _grade(store)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status not in ("passed", "skipped")]
    assert not [r for r in results if r.status in ("failed", "warning", "error")]
    graded = {r.check_id for r in results if r.status == "passed"}
    checks = role_class(TABLE["role"]).checks
    assert graded == {c.id for c in checks if c.level in ("MUST", "SHOULD")}, "the conforming session exercises every check"


def test_every_must_and_should_check_has_a_defect_and_every_row_a_planted_flag() -> None:
    checks = role_class(TABLE["role"]).checks
    listed = {check for row in ROWS for check in row["fails"]}
    assert {c.id for c in checks if c.level in ("MUST", "SHOULD")} <= listed
    assert {row["name"] for row in ROWS} == set(DEFECTS)


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_each_defect_fails_its_checks_naming_the_clause(served: Any, row: dict[str, Any]) -> None:
    client, store = served
    session(client, store, row["name"])
    verdict, results = _grade(store)
    checks = role_class(TABLE["role"]).checks
    for check_id in row["fails"]:
        check = checks.get(check_id)
        wanted = "failed" if check.level == "MUST" else "warning"
        mine = [r for r in results if r.check_id == check_id]
        assert any(r.status == wanted for r in mine), (check_id, [(r.status, r.message) for r in mine])
        assert all(r.clause and r.clause.startswith("003") for r in mine if r.status == wanted)
    for check_id in row.get("warns", []):  # a consequence of the harness's own design: a WARNING naming the decision
        mine = [r for r in results if r.check_id == check_id]
        assert any(r.status == "warning" and r.decision for r in mine), (check_id, [(r.status, r.message) for r in mine])
        assert not any(r.status == "failed" for r in mine), (check_id, [(r.status, r.message) for r in mine])
    listed = set(row["fails"]) | set(row.get("warns", []))
    others = [(r.check_id, r.status) for r in results if r.status in ("failed", "warning") and r.check_id not in listed]
    assert not others, f"{row['name']} also broke {others}"
    assert verdict == ("failed" if any(checks.get(c).level == "MUST" for c in row["fails"]) else "passed")


@pytest.mark.parametrize(
    ("variant", "warned", "decision"),
    [("seed-only", "DUDU-CERT-OFFLINE", "D-DUDU-OFFLINE-SEQ"), ("lazy-lists", "DUDU-CERT-LISTS", "D-DUDU-VERSIONS")],
)
def test_what_the_seed_allows_passes_with_a_warning_naming_the_decision(served: Any, variant: str, warned: str, decision: str) -> None:
    """A device built from the seed alone (no seq, offline_seq or key_version_code: 003 §4.3 and §3.1 name none) and one
    that fetches a changed list three heartbeats late (the seed sets no deadline) are served and pass; the harness's
    advice beyond the seed is a WARNING naming its decision, never a failure."""
    client, store = served
    session(client, store, variant)
    verdict, results = _grade(store)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status in ("failed", "error")]
    mine = [r for r in results if r.check_id == warned and r.status == "warning"]
    assert mine and mine[0].decision == decision, [(r.check_id, r.status, r.message) for r in results if r.check_id == warned]
    others = [(r.check_id, r.status) for r in results if r.status in ("failed", "warning") and r.check_id != warned]
    assert not others, others
