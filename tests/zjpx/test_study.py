"""Z2 real-name check, Z3 sessions, Z8 studyHour cadence and plausibility, references, daily limit, classStudentStudy."""

from __future__ import annotations

from fixtures.zjpx import resources
from harness.zjpx import state
from harness.zjpx.platform import beijing_day
from tests.zjpx.conftest import Zjpx, failed_rules


def auth(zj: Zjpx, card: str, name: str) -> dict:
    return zj.call("/api/v1/authentication", {"studyPlatformCode": zj.code, "cardNo": card, "name": name})


def test_realname_check_against_enrolled_learners(zj: Zjpx) -> None:
    intake = zj.file_class()
    learner = intake["thirdClassStudentInfoVoList"][0]
    assert auth(zj, learner["cardNo"], learner["studentName"])["returnCode"] == "0"
    wrong_name = auth(zj, learner["cardNo"], learner["studentName"] + "某")
    assert wrong_name["returnCode"] == "1" and failed_rules(wrong_name) == {"ZJPX-REALNAME"}
    stranger = auth(zj, "11010519491231002X", "张三")
    assert stranger["returnCode"] == "1" and failed_rules(stranger) == {"ZJPX-REALNAME"}


def test_realname_check_digit_is_strict(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    bad = auth(zj, "110105194912310021", "张三")  # wrong GB 11643 check character
    assert bad["returnCode"] == "2" and "ZJPX-CARDNO-CHECK" in failed_rules(bad)
    tolerant = auth(zj_tolerant, "110105194912310021", "张三")
    assert tolerant["returnCode"] == "1" and failed_rules(tolerant) == {"ZJPX-REALNAME"}


def test_class_needing_realname_refuses_study_before_authentication(zj: Zjpx) -> None:
    intake = zj.file_class(real_name=1)
    keys = zj.keys(intake)
    refused = zj.start(keys)
    assert refused["returnCode"] == "1" and failed_rules(refused) == {"ZJPX-REALNAME-FIRST"}
    learner = intake["thirdClassStudentInfoVoList"][0]
    assert auth(zj, learner["cardNo"], learner["studentName"])["returnCode"] == "0"
    assert zj.start(keys)["returnCode"] == "0"


def test_references_are_checked(zj: Zjpx) -> None:
    intake = zj.file_class()
    other = zj.file_class(seed=99)
    keys = zj.keys(intake)
    cases = {
        "ZJPX-REF-CLASS": dict(keys, classCode="c" * 32),
        "ZJPX-REF-ENROLMENT": dict(keys, studentUserCode=other["thirdClassStudentInfoVoList"][0]["studentCode"]),
        "ZJPX-REF-COURSE": dict(keys, courseCode=other["thirdClassCourseInfoVoList"][0]["courseCode"]),
        "ZJPX-REF-RESOURCE": dict(keys, resCode=resources(other)[0][2]),
    }
    for rule, data in cases.items():
        reply = zj.start(data)
        assert reply["returnCode"] == "1" and rule in failed_rules(reply), (rule, reply)
    assert zj.start(keys)["returnCode"] == "0"


def test_study_calls_need_an_open_session(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    for reply in (zj.hour(keys, 10, 10), zj.end(keys)):
        assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-SESSION-OPEN"}
    zj.start(keys)
    zj.advance(61)
    assert zj.hour(keys, 61, 61)["returnCode"] == "0"
    assert zj.end(keys)["returnCode"] == "0"
    after = zj.hour(keys, 70, 9)
    assert failed_rules(after) == {"ZJPX-SESSION-OPEN"}


def test_cadence_early_report_refused_but_the_last_partial_minute_allowed(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    duration = resources(intake)[0][3]
    zj.start(keys)
    zj.advance(30)
    early = zj.hour(keys, 30, 30)
    assert early["returnCode"] == "1" and failed_rules(early) == {"ZJPX-STUDYHOUR-EARLY"}
    assert "002 §1.10.1" in early["returnMsg"]
    # A learner who resumes near the end: the report that reaches the end may come early.
    zj.call("/api/v1/startStudy", keys)
    zj.platform.store.execute(
        "UPDATE zjpx_sessions SET start_play_time = ? WHERE platform_code = ? AND status = 'open'", (duration - 20, zj.code)
    )
    zj.advance(20)
    assert zj.hour(keys, duration, 20)["returnCode"] == "0"


def test_cadence_gap_is_journaled_but_not_refused(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    zj.start(keys)
    zj.advance(60)
    zj.hour(keys, 60, 60)
    zj.advance(125)
    reply = zj.hour(keys, 185, 125)
    assert reply["returnCode"] == "0"
    assert "ZJPX-STUDYHOUR-GAP" in reply["returnMsg"]
    last = zj.journal()[-1]
    assert last["outcome"] == "warning"  # an advisory (SHOULD) rule: journaled as a warning, never refusing
    assert [v["rule"] for v in last["verdicts"] if not v["held"]] == ["ZJPX-STUDYHOUR-GAP"]


def test_progress_cannot_exceed_elapsed_time(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    zj.start(keys)
    zj.advance(60)
    assert zj.hour(keys, 60, 60)["returnCode"] == "0"
    zj.advance(60)
    cheat = zj.hour(keys, 150, 90)
    assert cheat["returnCode"] == "1" and "ZJPX-STUDYHOUR-PROGRESS" in failed_rules(cheat)
    assert "002 §1.10.2 progressTime" in cheat["returnMsg"]


def test_play_time_never_backwards_nor_past_the_end(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    duration = resources(intake)[0][3]
    zj.start(keys)
    zj.advance(60)
    zj.hour(keys, 60, 60)
    zj.advance(60)
    back = zj.hour(keys, 30, 60)
    assert back["returnCode"] == "1" and failed_rules(back) == {"ZJPX-STUDYHOUR-BACKWARDS"}
    past = zj.hour(keys, duration + 1, 60)
    assert "ZJPX-STUDYHOUR-DURATION" in failed_rules(past)
    assert zj.hour(keys, 120, 60)["returnCode"] == "0"


def test_skipping_ahead_is_strictly_refused_and_tolerated(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness, expected in ((zj, "1"), (zj_tolerant, "0")):
        intake = harness.file_class()
        keys = harness.keys(intake)
        harness.start(keys)
        harness.advance(60)
        reply = harness.hour(keys, 240, 60)
        assert reply["returnCode"] == expected, reply
        if expected == "1":
            assert failed_rules(reply) == {"ZJPX-STUDYHOUR-JUMP"}


def test_replaying_from_the_start_is_backwards_in_strict_only(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness, expected in ((zj, "1"), (zj_tolerant, "0")):
        intake = harness.file_class()
        keys = harness.keys(intake)
        harness.start(keys)
        harness.advance(60)
        harness.hour(keys, 60, 60)
        harness.end(keys)
        harness.start(keys)  # re-watching from 0
        harness.advance(60)
        assert harness.hour(keys, 10, 60)["returnCode"] == expected
        # The same verdict under both profiles: a SHOULD naming the decision (only the strict profile refuses on it).
        [verdict] = [v for v in harness.journal()[-1]["verdicts"] if not v["held"]]
        assert (verdict["rule"], verdict["level"], verdict["decision"]) == ("ZJPX-STUDYHOUR-BACKWARDS", "SHOULD", "D-ZJPX-STUDY-CADENCE")
        assert "earlier session" in verdict["message"]


def test_progress_between_the_two_readings_is_a_should_verdict_under_both_profiles(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness, expected in ((zj, "1"), (zj_tolerant, "0")):
        intake = harness.file_class()
        keys = harness.keys(intake)
        harness.start(keys)
        harness.advance(60)
        reply = harness.hour(keys, 60, 66)  # 60 s elapsed: over + 3 s (strict), within + 10 % + 5 s (tolerant)
        assert reply["returnCode"] == expected, reply
        [verdict] = [v for v in harness.journal()[-1]["verdicts"] if not v["held"]]
        assert (verdict["rule"], verdict["level"], verdict["decision"]) == ("ZJPX-STUDYHOUR-PROGRESS", "SHOULD", "D-ZJPX-STUDY-CADENCE")
        harness.advance(60)
        cheat = harness.hour(keys, 120, 200)  # beyond both readings: refused under every profile, a MUST verdict
        assert cheat["returnCode"] == "1" and failed_rules(cheat) == {"ZJPX-STUDYHOUR-PROGRESS"}
        [verdict] = [v for v in harness.journal()[-1]["verdicts"] if v["rule"] == "ZJPX-STUDYHOUR-PROGRESS"]
        assert not verdict["held"] and verdict.get("level", "MUST") == "MUST"


def test_daily_study_hour_limit(zj: Zjpx) -> None:
    intake = zj.file_class(study_hour_limit=1, students=2)
    first, second = zj.keys(intake, student=0), zj.keys(intake, student=1)
    # Earlier today the first learner already studied 59 min 30 s in this class.
    zj.store.execute(
        "INSERT INTO zjpx_reports (session_id, platform_code, class_code, student_code, res_code, course_code, section_code,"
        " play_time, progress_time, at_ms, day) VALUES (0, ?, ?, ?, ?, ?, '', 0, 3570, ?, ?)",
        (zj.code, intake["classCode"], first["studentUserCode"], "x" * 32, first["courseCode"], zj.now, beijing_day(zj.now)),
    )
    zj.start(first)
    zj.start(second)
    zj.advance(60)
    over = zj.hour(first, 60, 60)
    assert over["returnCode"] == "1" and failed_rules(over) == {"ZJPX-STUDY-LIMIT"}
    assert zj.hour(second, 60, 60)["returnCode"] == "0"


def test_record_video_url(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    ok = zj.call("/api/v1/submitRecordVideoUrl", dict(keys, recordVideoUrl="http://video.example.invalid/rec/1.mp4"))
    assert ok["returnCode"] == "0"
    bad = zj.call("/api/v1/submitRecordVideoUrl", dict(keys, recordVideoUrl="ddd.mp4"))
    assert bad["returnCode"] == "2"
    unknown = zj.call("/api/v1/submitRecordVideoUrl", dict(keys, classCode="d" * 32, recordVideoUrl="http://v.example.invalid/2.mp4"))
    assert unknown["returnCode"] == "1" and failed_rules(unknown) == {"ZJPX-REF-CLASS"}


def test_update_two_inch_photo(zj: Zjpx) -> None:
    intake = zj.file_class()
    card = intake["thirdClassStudentInfoVoList"][0]["cardNo"]
    url = "http://photos.example.invalid/new.jpg"
    assert (
        zj.call("/api/v1/updateErcunPhotosUrl", {"studyPlatformCode": zj.code, "cardNo": card, "ercunPhotoUrl": url})["returnCode"] == "0"
    )
    row = zj.store.query_one(
        "SELECT photo_url FROM zjpx_learners WHERE platform_code = ? AND card_no = ?", (zj.code, state.card_key(zj.store, card))
    )
    assert row["photo_url"] == url
    stranger = zj.call("/api/v1/updateErcunPhotosUrl", {"studyPlatformCode": zj.code, "cardNo": "11010519491231002X", "ercunPhotoUrl": url})
    assert stranger["returnCode"] == "1" and failed_rules(stranger) == {"ZJPX-PHOTO-LEARNER"}


def test_class_student_study_answers_from_what_was_recorded(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    zj.start(keys)
    for minute in (1, 2, 3):
        zj.advance(60)
        assert zj.hour(keys, 60 * minute, 60)["returnCode"] == "0"
    zj.advance(60)
    zj.hour(keys, 200, 200)  # refused: not credited
    reply = zj.call("/api/class/v1/classStudentStudy", {"classCode": intake["classCode"]})
    assert reply["returnCode"] == "0"
    assert reply["returnData"] == [
        {
            "resCode": keys["resCode"],
            "playTime": "180",
            "sectionCode": keys["sectionCode"],
            "classCode": keys["classCode"],
            "courseCode": keys["courseCode"],
            "userCode": keys["studentUserCode"],
        }
    ]
    unknown = zj.call("/api/class/v1/classStudentStudy", {"classCode": "e" * 32})
    assert unknown["returnCode"] == "1" and failed_rules(unknown) == {"ZJPX-REF-CLASS"}
