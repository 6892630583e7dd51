"""Z1 login and tokens, the token gate, envelope, routing and the profile-dependent header and number handling."""

from __future__ import annotations

from tests.zjpx.conftest import PASSWORD, Zjpx, failed_rules


def test_login_returns_a_token_with_the_platform(zj: Zjpx) -> None:
    reply = zj.call("/api/v1/thlogin", {"studyPlatformAcount": zj.account.account, "passWord": PASSWORD}, token="")
    assert reply["returnCode"] == "0"
    assert reply["returnData"]["studyPlatformCode"] == zj.code
    assert reply["returnData"]["studyPlatformName"] == "测试学习平台"


def test_login_with_a_wrong_password_is_refused_with_code_3(zj: Zjpx) -> None:
    reply = zj.call("/api/v1/thlogin", {"studyPlatformAcount": zj.account.account, "passWord": "nope"}, token="")
    assert reply["returnCode"] == "3"
    assert failed_rules(reply) == {"ZJPX-LOGIN"}
    assert "002 §1.1.2" in reply["returnMsg"]


def test_calls_without_token_or_with_an_unknown_one_are_refused_with_code_3(zj: Zjpx) -> None:
    intake_reply = zj.call("/api/class/v1/classStudentStudy", {"classCode": "0" * 32}, token="")
    assert intake_reply["returnCode"] == "3" and failed_rules(intake_reply) == {"ZJPX-TOKEN"}
    reply = zj.call("/api/class/v1/classStudentStudy", {"classCode": "0" * 32}, token="f" * 32)
    assert reply["returnCode"] == "3" and failed_rules(reply) == {"ZJPX-TOKEN"}


def test_token_is_valid_for_two_hours(zj: Zjpx) -> None:
    intake = zj.file_class()
    zj.advance(2 * 3600 - 1)
    assert zj.call("/api/class/v1/classStudentStudy", {"classCode": intake["classCode"]})["returnCode"] == "0"
    zj.advance(2)
    reply = zj.call("/api/class/v1/classStudentStudy", {"classCode": intake["classCode"]})
    assert reply["returnCode"] == "3"
    assert "expired" in reply["returnMsg"] and "§1.1.1" in reply["returnMsg"]


def test_user_token_header_is_strictly_refused_and_tolerated(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness, expected in ((zj, "3"), (zj_tolerant, "0")):
        intake = harness.file_class()
        headers = {"deviceType": "TYPE_PC", "timestamp": "1587107195", "deviceId": "127.0.0.1", "user_token": harness.token}
        reply = harness.call("/api/class/v1/classStudentStudy", {"classCode": intake["classCode"]}, headers=headers)
        assert reply["returnCode"] == expected, reply


def test_platform_code_must_be_the_logged_in_platform(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = dict(zj.keys(intake), studyPlatformCode="a" * 32)
    reply = zj.start(keys)
    assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-PLATFORM-CODE"}


def test_malformed_json_and_wrong_types_answer_code_2(zj: Zjpx) -> None:
    assert zj.raw("/api/v1/thlogin", b"{not json")["returnCode"] == "2"
    intake = zj.file_class()
    reply = zj.hour(zj.keys(intake), "60", "60")  # type: ignore[arg-type]  # numbers as strings (D-ZJPX-NUMSTR)
    assert reply["returnCode"] == "2" and failed_rules(reply) == {"SCHEMA"}
    assert any(v["field"].startswith("body.data.playTime") for v in reply["returnData"]["violations"])


def test_numbers_as_strings_are_tolerated(zj_tolerant: Zjpx) -> None:
    zj = zj_tolerant
    intake = zj.file_class()
    keys = zj.keys(intake)
    assert zj.start(keys)["returnCode"] == "0"
    zj.advance(60)
    assert zj.hour(keys, "60", "60")["returnCode"] == "0"  # type: ignore[arg-type]


def test_mangled_paths_are_404_in_strict_and_served_in_tolerant(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    intake = zj.file_class()
    reply = zj.call("/api/startStudy", zj.keys(intake))
    assert reply["returnCode"] == "4"
    assert reply["returnData"]["violations"][0]["clause"].endswith("D-ZJPX-PATHS")
    intake = zj_tolerant.file_class()
    assert zj_tolerant.call("/api/startStudy", zj_tolerant.keys(intake))["returnCode"] == "0"
    assert zj_tolerant.journal()[-1]["operation"] == "startStudy"  # journaled under the canonical operation


def test_every_exchange_is_journaled_with_verdicts_and_the_platform(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    zj.start(keys)
    zj.advance(60)
    zj.hour(keys, 90, 90)  # 90 s of progress in a 60-second minute
    last = zj.journal()[-1]
    assert last["operation"] == "studyHour" and last["outcome"] == "failed" and last["code"] == "1"
    assert last["vendor"] == zj.code
    failed = [v for v in last["verdicts"] if not v["held"]]
    assert {v["rule"] for v in failed} >= {"ZJPX-STUDYHOUR-PROGRESS"}
    assert all(v["clause"].startswith("002 §1.10") for v in failed)
    held = {v["rule"] for v in last["verdicts"] if v["held"]}
    assert {"ZJPX-TOKEN", "ZJPX-REF-CLASS", "ZJPX-SESSION-OPEN"} <= held
