"""What every defect-table module of ZJPX asserts (examples/defects/zjpx-*.yaml): the conforming vendor has no FAILED
check and passes; each planted defect makes each listed check FAILED (MUST) or WARNING (SHOULD), with its clause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.conformance.engine import CheckSet
from harness.conformance.model import CheckFinished, CheckResult, RunFinished

ROOT = Path(__file__).resolve().parents[2]


def load(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / "defects" / f"{role}.yaml").read_text(encoding="utf-8"))


def rows(role: str) -> list[dict[str, Any]]:
    return load(role)["defects"]


def results(events: list[Any]) -> dict[str, CheckResult]:
    return {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}


def assert_conforming(events: list[Any]) -> None:
    found = results(events)
    assert not [r for r in found.values() if r.status in ("failed", "error")], {k: (r.status, r.message) for k, r in found.items()}
    assert isinstance(events[-1], RunFinished) and events[-1].verdict == "passed"


def assert_planted(events: list[Any], checks: CheckSet, row: dict[str, Any]) -> None:
    found = results(events)
    expected = [(c, "failed" if checks.get(c).level == "MUST" else "warning") for c in row.get("fails", ())]
    expected += [(c, "warning") for c in row.get("warns", ())]  # a reading a decision allows: never a failure
    for check_id, want in expected:
        got = found.get(check_id)
        assert got is not None, f"{row['name']}: {check_id} did not run"
        assert got.status == want, f"{row['name']}: {check_id} is {got.status} ({got.message}), not {want}"
        assert got.clause, f"{row['name']}: {check_id} names no clause"


def assert_table_covers(role: str, checks: CheckSet) -> None:
    table = load(role)
    assert table["role"] == role and (ROOT / table["test"]).is_file() and (ROOT / table["vendor"]).exists()
    listed = {c for row in table["defects"] for c in (*row.get("fails", ()), *row.get("warns", ()))}
    graded = {c.id for c in checks if c.level in ("MUST", "SHOULD")}
    assert graded <= listed, f"no defect fails {sorted(graded - listed)}"
    assert listed <= {c.id for c in checks}, f"unknown checks {sorted(listed - {c.id for c in checks})}"
