"""The seed's own request examples (002 §1.x.3, §2.x.3), sent verbatim with a real token: how each fares under each
profile. They are sloppy (codes of 31/33 characters, 12-digit ID numbers, a trailing comma, user_token, a missing
bizCode), so this table documents the decisions rather than a wish; what matters is that none is a harness error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.zjpx.conftest import PASSWORD, Zjpx

EXAMPLES = json.loads((Path(__file__).parent / "examples" / "seed_requests.json").read_text(encoding="utf-8"))
VENDOR_SIDE = {"/api/v1/pushClassInfo", "/api/v1/thirdCoursePull"}  # Z10/Z11 are served by vendors

# path: (strict returnCode, tolerant returnCode, why)
EXPECTED = {
    "/api/v1/thlogin": ("0", "0", "valid"),
    "/api/v1/authentication": ("2", "2", "cardNo 432136236256 is no ID number (D-ZJPX-CARDNO)"),
    "/api/ startStudy": ("4", "4", "a URL with a space (D-ZJPX-PATHS)"),
    "/api/v1/endStudy": ("2", "1", "a 31-character studyPlatformCode (D-ZJPX-UUID32), then unknown class"),
    "/api/v1/getFaceCompareConfig": ("1", "1", "another platform's code, unknown class"),
    "/api/v1thirdFaceCompare": ("4", "2", "mangled URL (D-ZJPX-PATHS); no bizCode (D-ZJPX-BIZCODE)"),
    "/api/v1/getVerificationCode": ("1", "1", "unknown class"),
    "/api/v1/submitVerificationCode": ("1", "1", "unknown bizCode"),
    "/api/v1/submitRecordVideoUrl": ("1", "1", "unknown class"),
    "/api/v1/studyHour": ("1", "1", "unknown class"),
    "/api/v1/updateErcunPhotosUrl": ("2", "2", "a trailing comma: not JSON"),
    "/api/v1/thirdCoursePush": ("2", "1", "33-character codes (D-ZJPX-UUID32); another platform's code"),
    "/api/user/v1/teacherInfo": ("3", "0", "user_token (D-ZJPX-TOKEN-HEADER)"),
    "/api/course/v1/courseInfo": ("3", "0", "user_token"),
    "/api/user/v1/studentInfo": ("3", "0", "user_token; the same learner twice (D-ZJPX-INTAKE-DUPLICATES)"),
    "/api/class/v1/pushClassInfo": ("3", "0", "user_token; chapetCode (D-ZJPX-CHAPTER-KEY)"),
    "/api/class/v1/classStudentStudy": ("3", "1", "user_token; unknown class"),
}


def send(zj: Zjpx, path: str) -> dict:
    item = EXAMPLES[path]
    url = path.replace(" ", "%20")
    if not item["json"]:
        return zj.raw(url, item["body"].encode("utf-8"))
    body = json.loads(json.dumps(item["body"]))
    for key in ("userToken", "user_token"):
        if key in body["headers"]:
            body["headers"][key] = zj.token
    if path == "/api/v1/thlogin":
        body["data"] = {"studyPlatformAcount": zj.account.account, "passWord": PASSWORD}
    return zj.raw(url, json.dumps(body, ensure_ascii=False).encode("utf-8"))


def test_every_harness_side_example_is_listed() -> None:
    assert set(EXAMPLES) - VENDOR_SIDE == set(EXPECTED)


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_seed_example(path: str, zj: Zjpx, zj_tolerant: Zjpx) -> None:
    strict, tolerant, why = EXPECTED[path]
    assert send(zj, path)["returnCode"] == strict, why
    assert send(zj_tolerant, path)["returnCode"] == tolerant, why
