"""examples/defects/zjpx-business-platform.yaml: the conforming business platform passes; each planted defect fails
(MUST) or warns (SHOULD) the checks it lists."""

from __future__ import annotations

from typing import Any

import pytest

from harness.conformance.roles import role_class
from harness.zjpx.business import BusinessPlatformRole
from tests.zjpx import defect_table
from tests.zjpx.conftest import Zjpx
from tests.zjpx.scenarios import business_platform

ROLE = "zjpx-business-platform"
CHECKS = role_class(ROLE).checks


def run(zj: Zjpx) -> list[Any]:
    return list(BusinessPlatformRole(zj.store, zj.code).run(seed=0))


def test_the_table_covers_every_graded_check() -> None:
    defect_table.assert_table_covers(ROLE, CHECKS)


def test_the_conforming_business_platform_passes(zj: Zjpx) -> None:
    business_platform(zj)
    events = run(zj)
    defect_table.assert_conforming(events)
    assert {r.status for r in defect_table.results(events).values()} == {"passed"}  # every check had something to judge


@pytest.mark.parametrize("row", defect_table.rows(ROLE), ids=lambda r: r["name"])
def test_each_planted_defect_fails_its_checks(zj: Zjpx, row: dict[str, Any]) -> None:
    business_platform(zj, **{row["name"]: True})
    defect_table.assert_planted(run(zj), CHECKS, row)


def _session_call(zj: Zjpx, session_id: str, path: str, data: Any, token: str = "") -> dict[str, Any]:
    import asyncio

    import httpx

    head = {"deviceType": "TYPE_PC", "timestamp": str(zj.now // 1000), "deviceId": "0a1b2c3d4e5f", "userToken": token}

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=zj.app), base_url="http://harness") as client:
            return await client.post(f"/_session/{session_id}/zjpx{path}", json={"headers": head, "data": data})

    return asyncio.run(go()).json()


def test_calls_the_gate_refused_under_the_session_are_graded_not_never_called(zj: Zjpx) -> None:
    """A business platform that never logs in but files under its session's base path: the gate refuses each call
    before it can name the platform code (returnCode 3, no token), yet they are the vendor's calls (it used the
    session's URL) and are graded as refused, not reported as "never called"."""
    from fixtures.zjpx import ZjpxData
    from harness.conformance import sessions

    data = ZjpxData(43)
    intake = data.class_intake(students=1)
    _session_call(zj, "nosuch0000", "/api/user/v1/teacherInfo", data.teacher_info(org_code=intake["orgCode"]))  # not this vendor's
    session = sessions.start(zj.store, ROLE, {"platform": zj.code})
    for path, body in (
        ("/api/user/v1/teacherInfo", data.teacher_info(org_code=intake["orgCode"])),
        ("/api/class/v1/pushClassInfo", intake),
        ("/api/class/v1/classStudentStudy", {"classCode": intake["classCode"]}),
    ):
        assert _session_call(zj, session.id, path, body)["returnCode"] == "3"
    finished = sessions.finish(zj.store, session.id)
    events = list(BusinessPlatformRole(zj.store, zj.code, window=finished.window).run(seed=0))
    results = defect_table.results(events)
    assert events[0].options["exchanges"] == 3
    for check_id in ("ZJPX-B-TEACHERS", "ZJPX-B-CLASSES", "ZJPX-B-STUDY"):
        assert results[check_id].status == "failed", (check_id, results[check_id].message)
        assert "never called" not in results[check_id].message
        assert "without a valid token: returnCode 3" in results[check_id].message, results[check_id].message
    assert "never called" in results["ZJPX-B-COURSES"].message  # courseInfo really was not called
    assert results["ZJPX-B-LOGIN"].status == "failed" and "3 §2 call(s) were refused for their token" in results["ZJPX-B-LOGIN"].message


def test_a_repeated_learner_is_graded_where_it_was_listed_and_masked(zj: Zjpx) -> None:
    """One studentInfo lists a learner twice: ZJPX-B-STUDENTS warns and names the ID number masked (it is printed on the
    console and kept in the report); ZJPX-B-CLASSES, whose class listed every learner once, passes."""
    import re

    from harness.masking import mask_id

    intake = business_platform(zj, repeated_learner=True)
    results = defect_table.results(run(zj))
    card = intake["thirdClassStudentInfoVoList"][0]["cardNo"]
    students = results["ZJPX-B-STUDENTS"]
    assert students.status == "warning" and f"stuCard {mask_id(card)} is listed twice" in students.message, students.message
    assert results["ZJPX-B-CLASSES"].status == "passed", results["ZJPX-B-CLASSES"].message
    for result in results.values():
        text = result.message + " ".join(str(e.note) for e in result.evidence)
        assert card not in text and not re.search(r"(?<!\d)\d{17}[\dX](?!\d)", text), (result.check_id, text)
