"""The seed's own forms (002 §1.3.2 ff. tables, §1.6.3 URL, string numbers) carry a SHOULD verdict under every profile."""

from __future__ import annotations

from typing import Any

from tests.zjpx.conftest import Zjpx
from tests.zjpx.scenarios import FACE
from tests.zjpx.test_verdicts import results, should_verdicts


def _space_key(keys: dict[str, Any]) -> dict[str, Any]:
    out = dict(keys)
    out["student UserCode"] = out.pop("studentUserCode")
    return out


def test_the_tables_key_spelling_passes_with_a_warning(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness, code in ((zj, "2"), (zj_tolerant, "0")):
        intake = harness.file_class()
        keys = harness.keys(intake)
        reply = harness.start(_space_key(keys))
        assert reply["returnCode"] == code, reply
        [verdict] = should_verdicts(harness, "startStudy")
        assert verdict["decision"] == "D-ZJPX-STUDENTUSERCODE-KEY", verdict
        if code == "0":
            harness.advance(60)
            assert harness.call("/api/v1/studyHour", dict(_space_key(keys), playTime=60, progressTime=60))["returnCode"] == "0"
            ids = harness.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode")
            assert harness.call("/api/v1/getFaceCompareConfig", _space_key(ids))["returnCode"] == "0"  # §1.5.2 spells it without
            assert harness.call("/api/v1/endStudy", _space_key(ids))["returnCode"] == "0"  # §1.4.2 likewise: one spelling throughout
            verdict, found = results(harness)
            assert verdict == "passed" and found["ZJPX-C-FORMAT"].status == "warning", found["ZJPX-C-FORMAT"]
            assert found["ZJPX-C-FORMAT"].decision == "D-ZJPX-STUDENTUSERCODE-KEY"


def test_clauses_name_the_tables_spelling_only_where_the_table_has_it() -> None:
    import re

    from harness.specs import spec_path

    text = spec_path("zjpx/supervision.yaml").read_text(encoding="utf-8")
    sections = set(re.findall(r"002 §(1\.\d+\.2) studentUserCode \(table: student UserCode\)", text))
    assert sections == {"1.3.2", "1.6.2", "1.7.2", "1.9.2", "1.10.2"}


def test_the_seeds_face_url_and_string_time_carry_a_should_verdict_under_every_profile(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness in (zj, zj_tolerant):
        intake = harness.file_class()
        keys = harness.keys(intake)
        harness.start(keys)
        ids = harness.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode")
        biz = harness.call("/api/v1/getFaceCompareConfig", ids)["returnData"]["bizCode"]
        body = dict(ids, compareMode="0", target=FACE, videoStudyTime="20", bizCode=biz)
        seed_url = harness.call("/api/v1thirdFaceCompare", body)
        harness.call("/api/v1/thirdFaceCompare", body)
        decisions = {v.get("decision") for e in harness.journal() for v in e["verdicts"] if not v["held"]}
        assert "D-ZJPX-NUMSTR" in decisions, (harness.settings.profile, decisions)
        if harness is zj_tolerant:  # the strict profile does not serve the mangled URL at all: returnCode 4 (D-ZJPX-PATHS)
            assert seed_url["returnCode"] == "0" and "D-ZJPX-PATHS" in decisions, decisions
            on_alias = {v.get("decision") for v in harness.journal()[-2]["verdicts"] if not v["held"]}
            assert on_alias == {"D-ZJPX-PATHS", "D-ZJPX-NUMSTR"}, on_alias  # the string time is judged on the seed's URL too
        else:
            assert seed_url["returnCode"] == "4"
        assert all(v.get("level") == "SHOULD" for e in harness.journal() for v in e["verdicts"] if not v["held"])
        verdict, found = results(harness)
        assert found["ZJPX-C-FORMAT"].status == "warning", found["ZJPX-C-FORMAT"]
        assert "D-ZJPX-NUMSTR" in found["ZJPX-C-FORMAT"].decision  # every decision followed is named, not only the first


def test_a_face_comparison_without_bizcode_is_refused_naming_the_decision(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    """§1.6.2 gives bizCode 是否可空 否 (回传1.5接口返回的bizCode), §1.5.1 makes the §1.5 call come first; only the §1.6.3
    example, whose compareMode and target are placeholders too, omits it. The interface cannot tie a comparison to the
    issued check and its expiry without it (D-ZJPX-BIZCODE): refused under every profile, the refusal and the client
    role's finding naming the decision."""
    for harness in (zj, zj_tolerant):
        intake = harness.file_class()
        keys = harness.keys(intake)
        harness.start(keys)
        ids = harness.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode")
        reply = harness.call("/api/v1/thirdFaceCompare", dict(ids, compareMode="0", target=FACE, videoStudyTime=20))
        assert reply["returnCode"] == "2" and "D-ZJPX-BIZCODE" in reply["returnMsg"], reply
        _, found = results(harness)
        assert found["ZJPX-C-FORMAT"].status == "failed" and "D-ZJPX-BIZCODE" in found["ZJPX-C-FORMAT"].message, found["ZJPX-C-FORMAT"]


def test_schema_findings_speak_json_and_name_a_refused_key(zj_tolerant: Zjpx) -> None:
    """The tables' key "student UserCode" is named as the refused key (not "should not be valid under {}"), and a null
    is null (not Python's None), in the journaled verdict and in the client role's finding."""
    harness = zj_tolerant
    intake = harness.file_class()
    keys = harness.keys(intake)
    assert harness.start(_space_key(keys))["returnCode"] == "0"
    [verdict] = should_verdicts(harness, "startStudy")
    assert verdict["message"].startswith("the key 'student UserCode' is not accepted here (sent \""), verdict
    ids = harness.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode")
    reply = harness.call("/api/v1/thirdFaceCompare", dict(ids, compareMode="0", target=FACE, videoStudyTime=20, bizCode=None))
    assert reply["returnCode"] == "2" and "null is not of type 'string'" in reply["returnMsg"], reply
    _, found = results(harness)
    text = found["ZJPX-C-FORMAT"].message
    assert "should not be valid under" not in text and "None is not" not in text and "null is not of type" in text, text


def test_digit_strings_in_the_class_intakes_trigger_name_the_numbers_decision(zj_tolerant: Zjpx) -> None:
    """§1.12.3 writes "videoOnHookDetail": {"triggerType": "0", "triggervValue": "0"}: digit strings for 整型 fields are
    D-ZJPX-NUMSTR (the key's spelling and nesting are D-ZJPX-TRIGGER-VALUE, which this form follows)."""
    from fixtures.zjpx import ZjpxData

    intake = ZjpxData(4).class_intake(video_on_hook=2, trigger_type=1, trigger_value=5)
    intake["videoOnHookDetail"] = {k: str(v) for k, v in intake["videoOnHookDetail"].items()}
    reply = zj_tolerant.call("/api/class/v1/pushClassInfo", intake)
    assert reply["returnCode"] == "0", reply
    found = [v for v in should_verdicts(zj_tolerant, "classInfo") if "videoOnHookDetail" in (v.get("field") or "")]
    assert found and {v["decision"] for v in found} == {"D-ZJPX-NUMSTR"}, found
