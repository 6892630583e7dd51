"""Warnings of the zjpx-business-platform role a regulator has to be able to read: every WARNING names a decision, and a
seed form repeated on every call never hides a different finding behind "(+N more)"."""

from __future__ import annotations

import json
from typing import Any

from fixtures.zjpx import ZjpxData
from harness.reports.document import check_entry
from harness.zjpx.business import BusinessPlatformRole
from tests.zjpx import defect_table
from tests.zjpx.conftest import Zjpx
from tests.zjpx.scenarios import business_platform


def results(zj: Zjpx) -> dict[str, Any]:
    return defect_table.results(list(BusinessPlatformRole(zj.store, zj.code).run(seed=0)))


def test_the_references_warning_names_its_decision_and_says_it_is_advice(zj: Zjpx) -> None:
    business_platform(zj, learners_not_filed=True)
    refs = results(zj)["ZJPX-B-REFERENCES"]
    assert refs.status == "warning"
    assert refs.decision == "D-ZJPX-REFERENCES"
    assert "advice beyond the seed" in refs.message


def test_a_wrong_check_character_is_shown_among_repeated_seed_form_warnings(zj_tolerant: Zjpx) -> None:
    """The §2 examples' forms (user_token, no studyPlatformApiUrl) warn on every call; a learner filed with a wrong
    GB 11643 check character is a different finding and must appear in the message and the evidence."""
    zj = zj_tolerant
    data = ZjpxData(43)
    head = {"deviceType": "TYPE_PC", "timestamp": str(zj.now // 1000), "deviceId": "127.0.0.1", "user_token": zj.token}
    for _ in range(3):  # seed-form warnings on several calls before the one that matters
        teacher = {k: v for k, v in data.teacher_info().items() if k != "studyPlatformApiUrl"}
        assert zj.call("/api/user/v1/teacherInfo", teacher, headers=head)["returnCode"] == "0"
    learner = data.class_intake(students=1)["thirdClassStudentInfoVoList"][0]
    card = learner["cardNo"]
    wrong = card[:-1] + ("1" if card[-1] != "1" else "2")
    student = {"stuCode": learner["studentCode"], "stuName": learner["studentName"], "stuCard": wrong, "mobile": "13800138000"}
    assert zj.call("/api/user/v1/studentInfo", [student], headers=head)["returnCode"] == "0"
    fmt = results(zj)["ZJPX-B-FORMAT"]
    assert fmt.status == "warning"
    assert "ZJPX-CARDNO-CHECK" in fmt.message
    assert any("ZJPX-CARDNO-CHECK" in e.note for e in fmt.evidence)
    assert "D-ZJPX-CARDNO" in (fmt.decision or "")


def test_a_missing_platform_url_as_in_the_seed_examples_names_its_own_decision(zj_tolerant: Zjpx, zj: Zjpx) -> None:
    """studyPlatformApiUrl is 是否可空 否 in §2.1.2–§2.4.2 and absent from every §2 example: D-ZJPX-PLATFORM-URL, not the
    decision on unknown fields. Accepted with that warning by default; refused under --profile strict."""
    teacher = {k: v for k, v in ZjpxData(44).teacher_info().items() if k != "studyPlatformApiUrl"}
    assert zj_tolerant.call("/api/user/v1/teacherInfo", teacher)["returnCode"] == "0"
    verdicts = [v for v in zj_tolerant.journal()[-1]["verdicts"] if not v["held"]]
    assert [(v["field"], v["decision"]) for v in verdicts] == [("body.data.studyPlatformApiUrl", "D-ZJPX-PLATFORM-URL")]
    assert "studyPlatformApiUrl" in verdicts[0]["clause"]
    assert zj.call("/api/user/v1/teacherInfo", teacher)["returnCode"] == "2"


def test_the_teachers_name_never_reaches_the_report_in_clear(zj_tolerant: Zjpx) -> None:
    """§2.1.2 teaName is a person's name (教师姓名): a report's evidence masks it, like stuName and studentName."""
    zj = zj_tolerant
    head = {"deviceType": "TYPE_PC", "timestamp": str(zj.now // 1000), "deviceId": "127.0.0.1", "user_token": zj.token}
    teacher = dict(ZjpxData(45).teacher_info(), teaName="欧阳建国")
    assert zj.call("/api/user/v1/teacherInfo", teacher, headers=head)["returnCode"] == "0"
    fmt = results(zj)["ZJPX-B-FORMAT"]
    assert fmt.status == "warning"  # user_token: the evidence carries the teacherInfo request
    shown = json.dumps(check_entry(fmt), ensure_ascii=False)
    assert "teaName" in shown
    assert "欧阳建国" not in shown
    assert '"teaName": "hmac-sha256:' in shown  # journaled as a keyed hash (harness.zjpx.platform.PERSONAL_FIELDS)
