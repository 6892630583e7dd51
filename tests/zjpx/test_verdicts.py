"""studyHour cadence verdicts (002 §1.10.1): the same under every profile, the last report before endStudy a warning."""

from __future__ import annotations

from typing import Any

from harness.conformance.model import CheckFinished
from harness.zjpx.certify import LearningPlatformClientRole
from tests.zjpx.conftest import Zjpx


def results(zj: Zjpx) -> tuple[str, dict[str, Any]]:
    events = list(LearningPlatformClientRole(zj.store, zj.code).run(seed=0))
    found = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    return events[-1].verdict, found  # type: ignore[attr-defined]


def should_verdicts(zj: Zjpx, operation: str) -> list[dict[str, Any]]:
    return [v for e in zj.journal() if e["operation"] == operation for v in e["verdicts"] if not v["held"] and v.get("level") == "SHOULD"]


def study(zj: Zjpx, steps: list[int], *, end: bool = True) -> dict[str, Any]:
    intake = zj.file_class()
    keys = zj.keys(intake)
    zj.start(keys)
    played = 0
    for step in steps:
        zj.advance(step)
        played += step
        zj.hour(keys, played, step)
    if end:
        zj.end(keys)
    return keys


def test_every_40_seconds_is_refused_strictly_and_warned_tolerantly(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness, code in ((zj, "1"), (zj_tolerant, "0")):
        intake = harness.file_class()
        keys = harness.keys(intake)
        harness.start(keys)
        harness.advance(40)
        reply = harness.hour(keys, 40, 40)
        assert reply["returnCode"] == code, reply
        assert "≥ 50 s" in reply["returnMsg"]
        [verdict] = should_verdicts(harness, "studyHour")
        assert verdict["rule"] == "ZJPX-STUDYHOUR-EARLY" and verdict["decision"] == "D-ZJPX-STUDY-CADENCE"
        harness.advance(60)
        harness.hour(keys, 100, 60)
        harness.end(keys)
        verdict, found = results(harness)
        assert found["ZJPX-C-STUDYHOUR"].status == "warning", found["ZJPX-C-STUDYHOUR"]
        assert found["ZJPX-C-STUDYHOUR"].decision == "D-ZJPX-STUDY-CADENCE"


def test_every_20_seconds_fails_under_every_profile(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness in (zj, zj_tolerant):
        study(harness, [60, 20, 20, 60])
        verdict, found = results(harness)
        assert verdict == "failed" and found["ZJPX-C-STUDYHOUR"].status == "failed"
        assert "ZJPX-STUDYHOUR-EARLY" in found["ZJPX-C-STUDYHOUR"].message


def test_a_100_second_gap_is_journaled_under_every_profile(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness in (zj, zj_tolerant):
        study(harness, [60, 100, 60])
        gaps = [v for v in should_verdicts(harness, "studyHour") if v["rule"] == "ZJPX-STUDYHOUR-GAP"]
        assert len(gaps) == 1 and "> 90 s" in gaps[0]["message"]
        verdict, found = results(harness)
        assert verdict == "passed" and found["ZJPX-C-STUDYHOUR"].status == "warning"


def test_a_final_partial_report_before_end_study_is_a_warning(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness in (zj, zj_tolerant):
        study(harness, [60, 60, 20])
        verdict, found = results(harness)
        hour = found["ZJPX-C-STUDYHOUR"]
        assert verdict == "passed", hour
        assert hour.status == "warning" and hour.decision == "D-ZJPX-FINAL-REPORT", hour


def test_a_short_report_that_is_not_the_last_still_fails(zj: Zjpx) -> None:
    study(zj, [60, 20, 60])
    verdict, found = results(zj)
    assert verdict == "failed" and found["ZJPX-C-STUDYHOUR"].status == "failed"
