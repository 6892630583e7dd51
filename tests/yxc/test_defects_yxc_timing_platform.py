"""The yxc-timing-platform defect table (examples/defects/yxc-timing-platform.yaml): the reference vendor's filing flow
passes; each planted defect makes exactly the checks its row lists FAILED (MUST) or WARNING (SHOULD), naming the
clause, and nothing else (a refused call is graded once, by the rule it broke)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.conformance.model import CheckFinished, CheckResult, RunFinished
from harness.conformance.roles import CommonOptions, role_class
from tests.yxc.timing_vendor import DEFECTS, Province

TABLE = yaml.safe_load((Path(__file__).parents[2] / "examples" / "defects" / "yxc-timing-platform.yaml").read_text(encoding="utf-8"))
ROWS = TABLE["defects"]


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    p = Province(tmp_path_factory.mktemp("province"))
    yield p
    p.close()


def _grade(province: Province, since: int, profile: str = "strict") -> tuple[str, list[CheckResult]]:
    common = CommonOptions(report_dir=Path("."), seed=1, db=province.db, profile=profile)
    events = list(role_class(TABLE["role"])(common, vendor=province.user, since=since).run(seed=1))
    assert isinstance(events[-1], RunFinished)
    return events[-1].verdict, [e.result for e in events if isinstance(e, CheckFinished)]


def test_the_conforming_vendor_passes(province: Province) -> None:
    since = province.session()
    verdict, results = _grade(province, since)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status != "passed"]
    assert not [r for r in results if r.status in ("failed", "warning", "error")]
    tolerant_verdict, tolerant = _grade(province, since, "tolerant")  # the verdicts do not depend on --profile
    assert tolerant_verdict == verdict and [(r.check_id, r.status) for r in tolerant] == [(r.check_id, r.status) for r in results]


def test_every_must_and_should_check_has_a_defect_and_every_row_a_planted_flag() -> None:
    checks = role_class(TABLE["role"]).checks
    listed = {check for row in ROWS for check in (*row.get("fails", ()), *row.get("warns", ()))}
    assert {c.id for c in checks if c.level in ("MUST", "SHOULD")} <= listed
    assert {row["name"] for row in ROWS} == set(DEFECTS)


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_each_defect_fails_its_checks_naming_the_clause(province: Province, row: dict[str, Any]) -> None:
    since = province.session(row["name"])
    verdict, results = _grade(province, since)
    checks = role_class(TABLE["role"]).checks
    expected = [(c, "failed" if checks.get(c).level == "MUST" else "warning") for c in row.get("fails", ())]
    expected += [(c, "warning") for c in row.get("warns", ())]  # a reading a decision allows: never a failure
    for check_id, wanted in expected:
        mine = [r for r in results if r.check_id == check_id]
        assert any(r.status == wanted for r in mine), (check_id, [(r.status, r.message) for r in mine])
        assert all(r.clause.startswith("000") for r in mine if r.status == wanted), [r.clause for r in mine]
    named = {c for c, _ in expected}
    others = [(r.check_id, r.status, r.message) for r in results if r.status in ("failed", "warning") and r.check_id not in named]
    assert not others, f"{row['name']} also broke {others}"
    assert verdict == ("failed" if any(checks.get(c).level == "MUST" for c in row.get("fails", ())) else "passed")


def test_the_conforming_vendor_files_again_what_a_drill_fault_refused(province: Province) -> None:
    """A 503 drill refuses the first classrecord; the vendor files it again under its stunum/recnum: YXC-TP-REFILE
    passes having found both calls, and the drill's reply is graded as nobody's failure (YXC-TP-INTERFACE holds)."""
    since = province.session(drill=True)
    verdict, results = _grade(province, since)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status != "passed"]
    by_id = {r.check_id: r for r in results}
    assert by_id["YXC-TP-REFILE"].status == "passed" and "filed again" in by_id["YXC-TP-REFILE"].message
    assert len(by_id["YXC-TP-REFILE"].evidence) == 2
    assert by_id["YXC-TP-INTERFACE"].status == "passed" and by_id["YXC-TP-STEP-CLASSRECORD"].status == "passed"
    assert by_id["YXC-TP-RECORD-UNIQUE"].status == "skipped"  # one record accepted: nothing to compare


def test_recovery_checks_skip_a_session_without_a_drill(province: Province) -> None:
    _, results = _grade(province, province.session())
    assert {r.check_id: r.status for r in results}["YXC-TP-REFILE"] == "skipped"


def _not_passed(results: list[CheckResult]) -> list[tuple[str, str, str]]:
    return [(r.check_id, r.status, r.message) for r in results if r.status in ("failed", "warning", "error")]


def test_a_remote_teaching_platform_is_not_asked_for_coach_or_student_filings(province: Province) -> None:
    """000 2.2 2): a remote platform reports its training records (附件四 A.6.3.2 计时平台或远程教育平台); coaches and
    students are the timing platform's filings (A.6.2.3.1, A.6.3.1.1 用于计时平台)."""
    verdict, results = _grade(province, province.remote_session())
    steps = {r.check_id: r for r in results if r.check_id in ("YXC-TP-STEP-COACH", "YXC-TP-STEP-STUDENT")}
    assert {r.status for r in steps.values()} == {"skipped"} and all("remote-teaching" in r.message for r in steps.values())
    assert verdict == "passed", _not_passed(results)
    assert not [r for r in results if r.status == "failed"]


@pytest.mark.parametrize("form", ["omit", "empty"])
def test_a_remote_record_without_the_unused_numbers_is_a_warning_naming_the_decision(province: Province, form: str) -> None:
    """表A.8 #3–#5 必选 是 yet 远程教育平台不使用: both of the seed's readings pass; the file's own is a WARNING."""
    verdict, results = _grade(province, province.remote_session(form))
    interface = [r for r in results if r.check_id == "YXC-TP-INTERFACE"]
    assert verdict == "passed", _not_passed(results)
    assert interface and all(r.status == "warning" and r.decision == "D-YXC-REMOTE-UNUSED" for r in interface), [
        (r.status, r.decision, r.message) for r in interface
    ]


def test_photo_ids_sent_as_numbers_are_a_warning_naming_numstr(province: Province) -> None:
    """表A.8 #9–#11 字符型 V32, but A.5.3 answers the file id 数值型 (and 表A.2 #8 photo is 数值型): D-YXC-NUMSTR."""
    verdict, results = _grade(province, province.remote_session(photo_int=True))
    warned = [r for r in results if r.status == "warning" and r.check_id == "YXC-TP-INTERFACE"]
    assert verdict == "passed", _not_passed(results)
    assert warned and all(r.decision == "D-YXC-NUMSTR" for r in warned), [(r.check_id, r.decision, r.message) for r in warned]
    assert any("photo1" in r.message for r in warned)
