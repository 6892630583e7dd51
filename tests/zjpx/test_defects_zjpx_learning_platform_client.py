"""examples/defects/zjpx-learning-platform-client.yaml: the conforming learning platform passes; each planted defect
fails (MUST) or warns (SHOULD) the checks it lists."""

from __future__ import annotations

from typing import Any

import pytest

from harness.conformance.roles import role_class
from harness.zjpx.certify import LearningPlatformClientRole
from tests.zjpx import defect_table
from tests.zjpx.conftest import Zjpx
from tests.zjpx.scenarios import learning_platform

ROLE = "zjpx-learning-platform-client"
CHECKS = role_class(ROLE).checks


def run(zj: Zjpx) -> list[Any]:
    return list(LearningPlatformClientRole(zj.store, zj.code).run(seed=0))


def test_the_table_covers_every_graded_check() -> None:
    defect_table.assert_table_covers(ROLE, CHECKS)


def test_the_conforming_learning_platform_passes(zj: Zjpx) -> None:
    learning_platform(zj)
    events = run(zj)
    defect_table.assert_conforming(events)
    assert {r.status for r in defect_table.results(events).values()} == {"passed"}  # every check had something to judge


@pytest.mark.parametrize("row", defect_table.rows(ROLE), ids=lambda r: r["name"])
def test_each_planted_defect_fails_its_checks(zj: Zjpx, row: dict[str, Any]) -> None:
    learning_platform(zj, **{row["name"]: True})
    defect_table.assert_planted(run(zj), CHECKS, row)


def test_an_end_study_refused_for_anti_idling_is_not_also_a_missing_end_study(zj: Zjpx) -> None:
    """The platform calls endStudy for every session, and the reference refuses them for the missed face checks: that
    fault is ZJPX-C-ANTI-IDLING's; ZJPX-C-SESSIONS says the calls were sent and refused, and why, and does not fail."""
    learning_platform(zj, start_face_only=True)
    results = defect_table.results(run(zj))
    sessions, anti_idling = results["ZJPX-C-SESSIONS"], results["ZJPX-C-ANTI-IDLING"]
    assert anti_idling.status == "failed", anti_idling.message
    assert sessions.status == "passed", sessions.message
    assert "never got" not in sessions.message
    assert "2 endStudy call(s) were sent but refused" in sessions.message, sessions.message
    assert "ZJPX-ANTI-IDLING (graded by ZJPX-C-ANTI-IDLING)" in sessions.message, sessions.message


def test_a_session_never_ended_still_fails_and_names_the_refused_ones(zj: Zjpx) -> None:
    learning_platform(zj, start_face_only=True, no_end=True)
    sessions = defect_table.results(run(zj))["ZJPX-C-SESSIONS"]
    assert sessions.status == "failed" and "1 of 2 accepted startStudy call(s) never got an endStudy" in sessions.message
    assert "1 endStudy call(s) were sent but refused" in sessions.message, sessions.message


def test_study_reports_refused_for_a_missed_start_face_are_graded_once(zj: Zjpx) -> None:
    """No face at video start (videoStartFace 1): the reference refuses every studyHour for ZJPX-START-FACE. That is
    ZJPX-C-ANTI-IDLING's failure; ZJPX-C-STUDYHOUR has nothing of its own to judge and says why (skipped)."""
    learning_platform(zj, skip_face=True)
    results = defect_table.results(run(zj))
    assert results["ZJPX-C-ANTI-IDLING"].status == "failed"
    study = results["ZJPX-C-STUDYHOUR"]
    assert study.status == "skipped", (study.status, study.message)
    assert "ZJPX-START-FACE (graded by ZJPX-C-ANTI-IDLING)" in study.message, study.message


def test_a_finding_carries_the_calls_it_judged_not_only_their_journal_ids(zj: Zjpx) -> None:
    """A regulator holding only the bundle sees what was sent and answered: the request (URL as called, body) and the
    reply of each call behind a failed check."""
    learning_platform(zj, start_face_only=True, no_end=True)
    results = defect_table.results(run(zj))
    for check in ("ZJPX-C-SESSIONS", "ZJPX-C-ANTI-IDLING"):
        assert results[check].status == "failed"
        evidence = results[check].evidence
        assert evidence and all(e.request and e.request["url"].startswith("/zjpx/") and e.reply for e in evidence), evidence
        assert all(isinstance(e.request["body"], dict) and isinstance(e.reply["body"], dict) for e in evidence)
