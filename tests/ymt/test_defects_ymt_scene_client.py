"""The ymt-scene-client defect table (examples/defects/ymt-scene-client.yaml): the conforming scene system of
tests/ymt/scene_client.py passes; each planted defect makes exactly the checks its row lists FAILED (MUST) or WARNING
(SHOULD), naming their clause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.conformance.model import CheckFinished, CheckResult, RunFinished
from harness.conformance.roles import role_class
from harness.ymt.certify import YmtSceneClientRole
from tests.ymt.scene_client import DEFECTS, session

TABLE = yaml.safe_load((Path(__file__).parents[2] / "examples" / "defects" / "ymt-scene-client.yaml").read_text(encoding="utf-8"))
ROWS = TABLE["defects"]


def _send(client: Any) -> Any:
    return lambda path, body: client.raw("POST", "/ymt" + path, json=body).json()


def _grade(store: Any, merchant_id: str, answers: Path) -> tuple[str, list[CheckResult]]:
    events = list(YmtSceneClientRole(store, merchant_id, answers=answers).run(seed=1))
    assert isinstance(events[-1], RunFinished)
    return events[-1].verdict, [e.result for e in events if isinstance(e, CheckFinished)]


@pytest.mark.parametrize("profile", ["tolerant", "strict"])
def test_the_conforming_scene_passes(profile: str, tolerant: Any, served: Any, tmp_path: Path) -> None:
    client, store = tolerant if profile == "tolerant" else served
    answers = tmp_path / f"answers-{profile}.jsonl"
    merchant_id = session(_send(client), store, None, answers)
    verdict, results = _grade(store, merchant_id, answers)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status not in ("passed", "skipped", "review")]
    assert not [r for r in results if r.status in ("failed", "warning", "error")]
    graded = {r.check_id for r in results if r.status == "passed"}
    checks = role_class(TABLE["role"]).checks
    assert graded == {c.id for c in checks if c.level in ("MUST", "SHOULD")}, "the conforming session exercises every check"


def test_every_must_and_should_check_has_a_defect_and_every_row_a_planted_flag() -> None:
    checks = role_class(TABLE["role"]).checks
    listed = {check for row in ROWS for check in row["fails"]}
    assert {c.id for c in checks if c.level in ("MUST", "SHOULD")} <= listed
    assert {row["name"] for row in ROWS} == set(DEFECTS)


@pytest.mark.parametrize("profile", ["tolerant", "strict"])
@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_each_defect_fails_its_checks_naming_the_clause(
    request: pytest.FixtureRequest, tmp_path: Path, row: dict[str, Any], profile: str
) -> None:
    """The same checks break under either profile: under --profile strict a SHOULD form is refused, and still graded
    as the WARNING it is (the verdict does not depend on the profile)."""
    client, store = request.getfixturevalue("tolerant" if profile == "tolerant" else "served")
    answers = tmp_path / "answers.jsonl"
    merchant_id = session(_send(client), store, row["name"], answers)
    verdict, results = _grade(store, merchant_id, answers)
    checks = role_class(TABLE["role"]).checks
    for check_id in row["fails"]:
        check = checks.get(check_id)
        wanted = "failed" if check.level == "MUST" else "warning"
        mine = [r for r in results if r.check_id == check_id]
        assert any(r.status == wanted for r in mine), (check_id, [(r.status, r.message) for r in mine])
        assert all(r.clause and r.clause.startswith(("001", "D-YMT")) for r in mine if r.status == wanted), [r.clause for r in mine]
    others = [(r.check_id, r.status, r.message) for r in results if r.status in ("failed", "warning") and r.check_id not in row["fails"]]
    assert not others, f"{row['name']} also broke {others}"
    if "says" in row:  # the finding names the reading the scene followed
        assert any(row["says"] in r.message for r in results if r.check_id in row["fails"]), [r.message for r in results]
    for r in results:
        if r.status == "warning":  # a warning names the decision it rests on, and carries what it judged
            assert r.decision and r.evidence, (r.check_id, r.message)
    assert verdict == ("failed" if any(checks.get(c).level == "MUST" for c in row["fails"]) else "passed")


def test_an_expired_code_sent_again_is_one_finding_counting_its_resends(tolerant: Any, tmp_path: Path) -> None:
    client, store = tolerant
    answers = tmp_path / "answers.jsonl"
    merchant_id = session(_send(client), store, "retry-expired", answers)
    _, results = _grade(store, merchant_id, answers)
    mine = [r for r in results if r.check_id == "YMT-CERT-EXPIRED" and r.status == "warning"]
    assert len(mine) == 1 and "sent again 2 time(s)" in mine[0].message, [(r.status, r.message) for r in mine]


def test_a_decode_without_macid_is_named_so_not_none(tolerant: Any, tmp_path: Path) -> None:
    """A request that left macId out (表B.4 macId 是) and whose sign fails: the finding says "(no macId)", not "None"."""
    import datetime as dt

    client, store = tolerant
    answers = tmp_path / "answers.jsonl"
    merchant_id = session(_send(client), store, None, answers)
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d%H%M%S")
    _send(client)("/qrcode/decode", {"merchantId": merchant_id, "time": now, "qrcod": "YMTQNOMACID", "sign": "AAAA"})
    _, results = _grade(store, merchant_id, answers)
    sign = [r for r in results if r.check_id == "YMT-CERT-SIGN" and r.status == "failed"]
    assert sign and all(not r.message.startswith("None") for r in sign), [r.message for r in sign]
    assert any(r.message.startswith("(no macId): sign does not verify") for r in sign), [r.message for r in sign]
