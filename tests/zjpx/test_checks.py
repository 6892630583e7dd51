"""Z4/Z5 face comparison (bizCode lifecycle, real image decoding, the match rule), Z6 verification codes, and the
anti-idling checks a class configures (videoStartFace, videoOnHook with its trigger)."""

from __future__ import annotations

import base64

import pytest

from fixtures.photos import b64, blank_photo, noisy_photo, two_inch_photo
from fixtures.zjpx import resources
from harness.zjpx.rules import missing_checks
from tests.zjpx.conftest import Zjpx, failed_rules

FACE = b64(two_inch_photo(1))


def started(zj: Zjpx, **config: object) -> dict:
    intake = zj.file_class(**config)
    keys = zj.keys(intake)
    assert zj.start(keys)["returnCode"] == "0"
    return keys


def test_face_config_issues_a_bizcode_valid_five_minutes(zj: Zjpx) -> None:
    keys = started(zj)
    reply = zj.call("/api/v1/getFaceCompareConfig", zj.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode"))
    assert reply["returnCode"] == "0"
    assert reply["returnData"]["expiresTime"] == "5" and len(reply["returnData"]["bizCode"]) == 32


def test_a_real_photo_matches_and_a_blank_frame_does_not(zj: Zjpx) -> None:
    keys = started(zj)
    passed = zj.face(keys, FACE, at=5)
    assert passed == {"returnCode": "0", "returnMsg": "success", "returnData": {"msg": "人脸比对通过！", "result": 1}}
    failed = zj.face(keys, b64(blank_photo()), at=6)
    assert failed["returnCode"] == "0" and failed["returnData"]["result"] == 2
    png = zj.face(keys, b64(two_inch_photo(2, fmt="PNG")), mode="2", at=7)
    assert png["returnData"]["result"] == 1


def test_url_mode_uses_the_file_name_rule(zj: Zjpx) -> None:
    keys = started(zj)
    assert zj.face(keys, "http://cam.example.invalid/shot-1.jpg", mode="1")["returnData"]["result"] == 1
    assert zj.face(keys, "http://cam.example.invalid/noface-2.jpg", mode="1")["returnData"]["result"] == 2
    not_url = zj.face(keys, FACE, mode="1")
    assert not_url["returnCode"] == "2" and failed_rules(not_url) == {"ZJPX-FACE-IMAGE"}


@pytest.mark.parametrize(
    ("target", "why"),
    [
        (b64(noisy_photo((1000, 800))), "bytes"),  # > 2 MiB of real image
        (b64(two_inch_photo(3, size=(1921, 1080))), "1920×1080"),
        (b64(two_inch_photo(3, size=(1080, 1920))), "1920×1080"),  # portrait: strict refuses, tolerant accepts
        ("this is not base64!", "base64"),
        (base64.b64encode(b"plain text, not an image").decode(), "decode"),
        (b64(two_inch_photo(3, fmt="GIF")), "GIF"),
    ],
)
def test_images_are_decoded_and_bounded(zj: Zjpx, target: str, why: str) -> None:
    keys = started(zj)
    reply = zj.face(keys, target)
    assert reply["returnCode"] == "2", reply
    assert failed_rules(reply) == {"ZJPX-FACE-IMAGE"}
    assert why in reply["returnData"]["violations"][0]["message"]


def test_portrait_photos_and_data_uris_are_tolerated(zj_tolerant: Zjpx) -> None:
    keys = started(zj_tolerant)
    portrait = zj_tolerant.face(keys, b64(two_inch_photo(3, size=(1080, 1920))))
    assert portrait["returnCode"] == "0" and portrait["returnData"]["result"] == 1
    uri = zj_tolerant.face(keys, "data:image/jpeg;base64," + FACE, mode=0)  # type: ignore[arg-type]  # integer mode too
    assert uri["returnCode"] == "0"
    # Only the tolerant reading accepts them: each is journaled as a SHOULD verdict naming the decision, so the
    # certify roles warn under every profile (under --profile strict the same photos are refused).
    faces = [e for e in zj_tolerant.journal() if e["operation"] == "thirdFaceCompare"]
    found = [v for e in faces for v in e["verdicts"] if v["rule"] == "ZJPX-FACE-IMAGE" and not v["held"]]
    assert len(found) == 2, found
    assert {v["level"] for v in found} == {"SHOULD"} and {v["decision"] for v in found} == {"D-ZJPX-FACE-IMAGE"}
    assert any("portrait" in v["message"] for v in found) and any("data: URI" in v["message"] for v in found)
    plain = zj_tolerant.face(keys, FACE, at=9)
    assert plain["returnCode"] == "0"
    last = [e for e in zj_tolerant.journal() if e["operation"] == "thirdFaceCompare"]
    newest = max(last, key=lambda e: e["id"])
    assert all(v["held"] for v in newest["verdicts"] if v["rule"] == "ZJPX-FACE-IMAGE")  # a plain landscape photo: none


def test_bizcode_lifecycle(zj: Zjpx) -> None:
    keys = started(zj)
    ids = zj.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode")
    biz = zj.call("/api/v1/getFaceCompareConfig", ids)["returnData"]["bizCode"]
    # A failed photo may be retaken with the same bizCode; once it passed, the bizCode is spent.
    assert zj.face(keys, b64(blank_photo()), biz=biz)["returnData"]["result"] == 2
    assert zj.face(keys, FACE, biz=biz)["returnData"]["result"] == 1
    spent = zj.face(keys, FACE, biz=biz)
    assert spent["returnCode"] == "1" and failed_rules(spent) == {"ZJPX-FACE-BIZCODE"}
    unknown = zj.face(keys, FACE, biz="b" * 32)
    assert unknown["returnCode"] == "1" and failed_rules(unknown) == {"ZJPX-FACE-BIZCODE"}
    late = zj.call("/api/v1/getFaceCompareConfig", ids)["returnData"]["bizCode"]
    zj.advance(5 * 60 + 1)
    expired = zj.face(keys, FACE, biz=late)
    assert expired["returnCode"] == "1" and "expired" in expired["returnMsg"]


def test_bizcode_belongs_to_one_learner_and_video(zj: Zjpx) -> None:
    intake = zj.file_class(students=2)
    mine, theirs = zj.keys(intake, student=0), zj.keys(intake, student=1)
    zj.start(mine)
    zj.start(theirs)
    biz = zj.call("/api/v1/getFaceCompareConfig", zj.only(mine, "studyPlatformCode", "resCode", "studentUserCode", "classCode"))
    reply = zj.face(theirs, FACE, biz=biz["returnData"]["bizCode"])
    assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-FACE-BIZCODE"}
    assert reply["returnData"]["violations"][0]["field"] == "data.studentUserCode"


def test_face_checks_need_a_session_and_a_time_within_the_video(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    ids = zj.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode")
    no_session = zj.call("/api/v1/getFaceCompareConfig", ids)
    assert failed_rules(no_session) == {"ZJPX-SESSION-OPEN"}
    zj.start(keys)
    past = zj.face(keys, FACE, at=resources(intake)[0][3] + 1)
    assert past["returnCode"] == "1" and failed_rules(past) == {"ZJPX-VIDEO-TIME"}


def code_for(zj: Zjpx, keys: dict) -> dict:
    reply = zj.call("/api/v1/getVerificationCode", zj.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode"))
    assert reply["returnCode"] == "0", reply
    return reply["returnData"]


def submit(zj: Zjpx, biz: str, code: str, at: int = 10) -> dict:
    return zj.call(
        "/api/v1/submitVerificationCode", {"studyPlatformCode": zj.code, "bizCode": biz, "verificationCode": code, "videoStudyTime": at}
    )


def test_verification_code_lifecycle(zj: Zjpx) -> None:
    keys = started(zj)
    issued = code_for(zj, keys)
    assert issued["expiresTime"] == "5" and len(issued["verificationCode"]) == 4
    wrong = "0000" if issued["verificationCode"] != "0000" else "1111"
    typo = submit(zj, issued["bizCode"], wrong)
    assert typo["returnCode"] == "1" and failed_rules(typo) == {"ZJPX-CODE-MATCH"}
    assert submit(zj, issued["bizCode"], issued["verificationCode"])["returnCode"] == "0"
    again = submit(zj, issued["bizCode"], issued["verificationCode"])
    assert again["returnCode"] == "1" and failed_rules(again) == {"ZJPX-CODE-BIZCODE"}
    late = code_for(zj, keys)
    zj.advance(301)
    assert failed_rules(submit(zj, late["bizCode"], late["verificationCode"])) == {"ZJPX-CODE-BIZCODE"}
    ended = code_for(zj, keys)
    zj.end(keys)
    assert failed_rules(submit(zj, ended["bizCode"], ended["verificationCode"])) == {"ZJPX-CODE-SESSION"}
    assert failed_rules(submit(zj, "9" * 32, "1234")) == {"ZJPX-CODE-BIZCODE"}


def test_video_start_face_is_needed_before_the_first_study_hour(zj: Zjpx) -> None:
    keys = started(zj, video_start_face=1)
    zj.advance(60)
    refused = zj.hour(keys, 60, 60)
    assert refused["returnCode"] == "1" and failed_rules(refused) == {"ZJPX-START-FACE"}
    assert "videoStartFace" in refused["returnMsg"]
    other = started(zj, seed=5, video_start_face=1)
    zj.face(other, FACE, at=0)
    zj.advance(60)
    assert zj.hour(other, 60, 60)["returnCode"] == "0"


def study(zj: Zjpx, keys: dict, minutes: int, face_every: int | None) -> None:
    for minute in range(1, minutes + 1):
        zj.advance(60)
        assert zj.hour(keys, 60 * minute, 60)["returnCode"] == "0"
        if face_every and minute % face_every == 0:
            assert zj.face(keys, FACE, at=60 * minute)["returnData"]["result"] == 1


def test_anti_idling_face_every_n_minutes_is_checked_at_end_study(zj: Zjpx) -> None:
    keys = started(zj, video_on_hook=2, trigger_type=1, trigger_value=2)
    study(zj, keys, 5, face_every=2)
    assert zj.end(keys)["returnCode"] == "0"
    skipped = started(zj, seed=8, video_on_hook=2, trigger_type=1, trigger_value=2)
    study(zj, skipped, 5, face_every=None)
    reply = zj.end(skipped)
    assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-ANTI-IDLING"}
    assert "002 §1.12.2 videoOnHook" in reply["returnMsg"]
    # The session still ended: the learner stopped watching.
    assert failed_rules(zj.hour(skipped, 360, 60)) == {"ZJPX-SESSION-OPEN"}


def test_anti_idling_with_verification_codes(zj: Zjpx) -> None:
    keys = started(zj, video_on_hook=1, trigger_type=1, trigger_value=3)
    for minute in range(1, 7):
        zj.advance(60)
        zj.hour(keys, 60 * minute, 60)
        if minute % 3 == 0:
            issued = code_for(zj, keys)
            assert submit(zj, issued["bizCode"], issued["verificationCode"], 60 * minute)["returnCode"] == "0"
    assert zj.end(keys)["returnCode"] == "0"


def test_a_stretch_without_any_check_requested_gets_no_extra_grace(zj_tolerant: Zjpx) -> None:
    """videoOnHook 1 (弹验证码) every 1 minute (triggerType 1, 按照分钟来), 2.5 minutes studied: with no verification
    code ever requested the session fails under every profile (the tolerant reading's second minute is for answering a
    code shown, D-ZJPX-TRIGGER); with one requested at minute 1 and not answered, the tolerant minute holds it (a
    SHOULD verdict naming the decision, accepted)."""
    zj = zj_tolerant
    never = started(zj, seed=11, video_on_hook=1, trigger_type=1, trigger_value=1)
    for minute in (1, 2):
        zj.advance(60)
        zj.hour(never, 60 * minute, 60)
    zj.advance(30)
    reply = zj.end(never)
    assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-ANTI-IDLING"}, reply
    assert "no verification code was even requested (getVerificationCode)" in reply["returnMsg"], reply["returnMsg"]
    shown = started(zj, seed=12, video_on_hook=1, trigger_type=1, trigger_value=1)
    for minute in (1, 2):
        zj.advance(60)
        zj.hour(shown, 60 * minute, 60)
        if minute == 1:
            code_for(zj, shown)  # shown to the learner, who does not answer it
    zj.advance(30)
    assert zj.end(shown)["returnCode"] == "0"
    verdict = next(v for v in zj.journal()[-1]["verdicts"] if v["rule"] == "ZJPX-ANTI-IDLING")
    assert not verdict["held"] and verdict["level"] == "SHOULD" and verdict["decision"] == "D-ZJPX-TRIGGER", verdict


MIN = 60_000


@pytest.mark.parametrize(
    ("span_min", "issued_min", "strict", "ok"),
    [
        (2.5, [], False, False),  # nothing requested: the strict minute under the tolerant reading too
        (2.5, [1], False, True),  # requested at minute 1, unanswered: the tolerant reading's 2 minutes
        (2.5, [1], True, False),
        (1.9, [], False, True),  # within the strict minute of grace
        (3.5, [1], False, False),  # past the tolerant grace as well
    ],
)
def test_missing_checks_grace_needs_a_check_requested(span_min: float, issued_min: list[int], strict: bool, ok: bool) -> None:
    config = {"videoOnHook": 1, "triggerType": 1, "triggervValue": 1}
    why = missing_checks(config, 0, int(span_min * MIN), [], False, strict=strict, issued_ms=[m * MIN for m in issued_min])
    assert (why is None) == ok, why


@pytest.mark.parametrize(
    ("config", "span_min", "checks_min", "finished", "ok"),
    [
        ({"videoOnHook": 0, "triggerType": 1, "triggervValue": 5}, 30, [], True, True),
        ({"videoOnHook": 2, "triggerType": 1, "triggervValue": 5}, 12, [5, 10], False, True),
        ({"videoOnHook": 2, "triggerType": 1, "triggervValue": 5}, 12, [5], False, False),
        ({"videoOnHook": 2, "triggerType": 1, "triggervValue": 5}, 6.5, [], False, False),
        ({"videoOnHook": 2, "triggerType": 1, "triggervValue": 5}, 5.9, [], False, True),  # within a minute of grace
        ({"videoOnHook": 1, "triggerType": 0, "triggervValue": 3}, 20, [2, 9, 15], True, True),
        ({"videoOnHook": 1, "triggerType": 0, "triggervValue": 3}, 20, [2, 9], True, False),
        ({"videoOnHook": 1, "triggerType": 0, "triggervValue": 3}, 20, [2], False, True),  # unfinished video
        ({"videoOnHook": 2, "triggerType": 2, "triggervValue": 2}, 12, [2, 6, 12], False, True),  # gaps 2, 4, 6
        ({"videoOnHook": 2, "triggerType": 2, "triggervValue": 2}, 12, [2, 9], False, False),  # gap 7 > 2×2
    ],
)
def test_missing_checks_table(config: dict, span_min: float, checks_min: list[int], finished: bool, ok: bool) -> None:
    why = missing_checks(config, 0, int(span_min * MIN), [m * MIN for m in checks_min], finished, strict=True)
    assert (why is None) == ok, why
