"""Schema violations (000 附件四 tables) answer errorcode 200 naming field, rule and clause; never a 500."""

from __future__ import annotations

import json

from fixtures import files
from fixtures.yxc import YxcData


def _coach(harness) -> dict:
    ids = {t: harness.upload(t, files.png())["data"]["id"] for t in ("coachimg", "jsz", "sfz")}
    ids["pyht"] = harness.upload("pyht", files.pdf())["data"]["id"]
    return YxcData(7).coach(ids)


def _violation(reply: dict) -> dict:
    assert reply["errorcode"] == 200, reply
    return reply["data"]["violations"][0]


def test_conforming_coach_passes(harness) -> None:
    assert harness.post_json("coach", _coach(harness))["errorcode"] == 0


def test_missing_required_field_names_field_and_clause(harness) -> None:
    body = _coach(harness)
    del body["mobile"]
    v = _violation(harness.post_json("coach", body))
    assert v["field"] == "body.mobile"
    assert v["clause"] == "000 附件四 A.6.2.3.1 表A.2 #6"
    assert "required" in v["message"]


def test_f16_length_enum_type_and_date_rules(harness) -> None:
    cases = {
        "inscode": ("44010000", "minLength", "#1"),
        "sex": (3, "enum", "#4"),
        "photo": ("12", "type", "#8"),
        "teachpermitted": ("Z9", "enum", "#15"),
        "hiredate": ("20230231", "pattern", "#17"),
        "name": ("张" * 65, "maxLength", "#3"),
    }
    base = _coach(harness)
    for field, (value, keyword, row) in cases.items():
        body = {**base, field: value}
        v = _violation(harness.post_json("coach", body))
        assert v["field"] == f"body.{field}", field
        assert keyword in v["message"], (field, v)
        assert v["clause"].endswith(row), (field, v)


def test_every_violation_is_listed_and_message_fits_v128(harness) -> None:
    body = _coach(harness)
    for field in ("name", "mobile", "idcard"):
        del body[field]
    reply = harness.post_json("coach", body)
    assert {v["field"] for v in reply["data"]["violations"]} == {"body.name", "body.mobile", "body.idcard"}
    assert len(reply["message"]) <= 128


def test_unknown_field_strict_is_200_tolerant_is_ignored(make_harness, tmp_path) -> None:
    strict = make_harness()
    body = {**_coach(strict), "stunun": "typo"}
    assert _violation(strict.post_json("coach", body))["field"] == "body.stunun"
    tolerant = make_harness(profile="tolerant", db=tmp_path / "t.db")
    body = {**_coach(tolerant), "stunun": "typo"}
    assert tolerant.post_json("coach", body)["errorcode"] == 0


def test_numbers_as_strings_strict_200_tolerant_accepted(make_harness, tmp_path) -> None:
    strict = make_harness()
    body = _coach(strict)
    body["sex"] = "1"
    assert _violation(strict.post_json("coach", body))["field"] == "body.sex"
    tolerant = make_harness(profile="tolerant", db=tmp_path / "t.db")
    body = _coach(tolerant)
    body["sex"] = "1"
    body["photo"] = str(body["photo"])
    assert tolerant.post_json("coach", body)["errorcode"] == 0


def test_malformed_json_invalid_utf8_and_wrong_content_type_are_200_not_500(harness) -> None:
    for raw, ctype in ((b'{"inscode": ', "application/json"), (b'{"name": "\xff\xfe"}', "application/json"), (b"inscode=1", "text/plain")):
        reply = harness.post_json("coach", None, raw=raw, content_type=ctype)
        assert reply["errorcode"] == 200, (raw, reply)
        assert set(reply) == {"errorcode", "message", "data"}


def test_array_body_is_200(harness) -> None:
    assert harness.post_json("coach", [1, 2])["errorcode"] == 200


def test_unknown_service_and_wrong_method_are_100(harness) -> None:
    data = json.dumps({}).encode()
    reply = harness.request("POST", "/yxc/nosuchservice", params=harness.signer.query(data), content=data).json()
    assert reply["errorcode"] == 100
    reply = harness.request("GET", "/yxc/coach").json()
    assert reply["errorcode"] == 100


def test_unknown_file_type_is_200(harness) -> None:
    data = files.png()
    reply = harness.request("POST", "/yxc/imageup/selfie", params=harness.signer.query(data), files={"file": ("a", data)}).json()
    assert reply["errorcode"] == 200


def test_swagger_ui_and_spec_are_served(harness) -> None:
    assert harness.request("GET", "/yxc/openapi.json").json()["x-platform"] == "yxc"
    assert harness.request("GET", "/yxc/ui/").status_code == 200
