"""Defect table examples/defects/yxc-app-jump.yaml: the reference APP jump passes; each planted defect fails its checks.

The APP (examples/yxc_vendor/app_jump.py) opens the mini-program page through the harness's control endpoint, which
records the jump; the role yxc-app-jump then grades the recorded jumps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from examples.yxc_vendor import app_jump
from harness.config import Settings
from harness.conformance.model import CheckFinished, CheckResult, RunFinished
from harness.conformance.roles import CommonOptions, role_class
from harness.schema import open_store
from harness.server import create_app

ROOT = Path(__file__).resolve().parents[2]
TABLE = yaml.safe_load((ROOT / "examples/defects/yxc-app-jump.yaml").read_text(encoding="utf-8"))
STUNUM = "S440100200001234"
APP_NAME = "粤驾学堂"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    store = open_store(tmp_path / "serve.db")
    with TestClient(create_app(Settings(db=store.path), store), base_url="http://harness") as client:
        yield client, store.path
    store.close()


def grade(db: Path, tmp_path: Path, **options: Any) -> tuple[list[CheckResult], RunFinished]:
    role = role_class("yxc-app-jump")(CommonOptions(tmp_path / "report", 1, db, "strict"), **options)
    events = list(role.run(1))
    return [e.result for e in events if isinstance(e, CheckFinished)], events[-1]


def test_table_names_every_must_and_should_check() -> None:
    checks = role_class(TABLE["role"]).checks
    named = {c for row in TABLE["defects"] for c in row["fails"]}
    assert {c.id for c in checks if c.level in ("MUST", "SHOULD")} <= named
    assert named <= {c.id for c in checks}
    assert (ROOT / TABLE["vendor"]).is_file() and TABLE["test"] == "tests/yxc/test_defects_yxc_app_jump.py"


def test_the_conforming_reference_app_passes(harness: tuple[TestClient, Path], tmp_path: Path) -> None:
    client, db = harness
    answer = app_jump.open_page(client, STUNUM, APP_NAME)
    assert answer is not None and answer["conforming"] is True and answer["jump_id"]
    results, finished = grade(db, tmp_path, app_name=APP_NAME)
    assert finished.verdict == "passed"
    assert {r.status for r in results} == {"passed"}, [(r.check_id, r.status, r.message) for r in results]
    assert next(r for r in results if r.check_id == "app-window").message.startswith("1 of 1 jumps")


@pytest.mark.parametrize("row", TABLE["defects"], ids=[row["name"] for row in TABLE["defects"]])
def test_planted_defect_fails_its_checks(harness: tuple[TestClient, Path], tmp_path: Path, row: dict[str, Any]) -> None:
    client, db = harness
    app_jump.open_page(client, STUNUM, APP_NAME, defect=row["name"])
    results, finished = grade(db, tmp_path, since=0)  # a fresh store: every jump of this session
    checks = role_class(TABLE["role"]).checks
    by_id: dict[str, list[CheckResult]] = {}
    for result in results:
        by_id.setdefault(result.check_id, []).append(result)
    for check_id in row["fails"]:
        check = checks.get(check_id)
        expected = "failed" if check.level == "MUST" else "warning"
        got = by_id[check_id]
        assert expected in {r.status for r in got}, (check_id, [(r.status, r.message) for r in got])
        assert all(r.clause.startswith("000 ") for r in got)
        assert check.clause.split(";")[0] in next(r for r in got if r.status == expected).clause
    assert finished.verdict == ("failed" if any(checks.get(c).level == "MUST" for c in row["fails"]) else "passed")
