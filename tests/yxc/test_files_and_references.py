"""A.5.3 file types (format by real bytes, size caps) and the file-id references of Y6–Y9."""

from __future__ import annotations

import pytest

from fixtures import files
from fixtures.yxc import YxcData
from harness.pki import enrol
from harness.signing import Signer

K, M = 1024, 1024 * 1024


@pytest.mark.parametrize(
    ("file_type", "data", "code"),
    [
        ("sfz", files.png(), 0),
        ("sfz", files.jpeg(), 0),
        ("sfz", files.pdf(), 200),
        ("pyht", files.pdf(), 0),
        ("pyht", files.png(), 200),
        ("trainvideo", files.mp4(), 0),
        ("trainvideo", files.pdf(), 200),
        ("stucontract", files.pdf(), 0),
        ("sfz", b"", 200),
        ("xlzm", files.png(), 200),  # D-YXC-XLZM-FORMATS strict: pdf only
    ],
)
def test_format_is_judged_on_the_real_bytes(harness, file_type: str, data: bytes, code: int) -> None:
    reply = harness.upload(file_type, data)
    assert reply["errorcode"] == code, reply
    if code:
        assert (
            reply["data"]["violations"][0]["clause"] in (f"000 附件四 A.5.3 Type:{file_type}",)
            or "A.5.3" in reply["data"]["violations"][0]["clause"]
        )


@pytest.mark.parametrize(
    ("file_type", "maker", "cap"),
    [("sfz", files.png, 500 * K), ("pyht", files.pdf, 1 * M), ("trainvideo", files.mp4, 3 * M), ("stucontract", files.pdf, 5 * M)],
)
def test_size_cap_is_inclusive(harness, file_type: str, maker, cap: int) -> None:
    assert harness.upload(file_type, files.padded(maker(), cap))["errorcode"] == 0
    reply = harness.upload(file_type, files.padded(maker(), cap + 1))
    assert reply["errorcode"] == 200
    assert reply["data"]["violations"][0]["rule"] == "YXC-FILE-SIZE"


def test_tolerant_xlzm_takes_images(make_harness) -> None:
    assert make_harness(profile="tolerant").upload("xlzm", files.png())["errorcode"] == 0


def _ids(harness) -> dict[str, int]:
    ids = {t: harness.upload(t, files.png())["data"]["id"] for t in ("coachimg", "jsz", "sfz", "stuimg", "simulatorimg")}
    for t in ("pyht", "stucontract", "certificate"):
        ids[t] = harness.upload(t, files.pdf())["data"]["id"]
    return ids


def test_every_filing_passes_with_matching_uploads(harness) -> None:
    ids, data = _ids(harness), YxcData(3)
    student = data.student(ids)
    assert harness.post_json("coach", data.coach(ids))["errorcode"] == 0
    assert harness.post_json("student", student)["errorcode"] == 0
    assert harness.post_json("trainingsimulator", data.simulator(ids))["errorcode"] == 0
    assert harness.post_json("learningcertificate", data.certificate(ids, student["stunum"]))["errorcode"] == 0


def test_file_id_of_the_wrong_type_is_refused_naming_the_field(harness) -> None:
    ids = _ids(harness)
    body = YxcData(3).coach({**ids, "coachimg": ids["sfz"]})
    reply = harness.post_json("coach", body)
    assert reply["errorcode"] == 1
    v = reply["data"]["violations"][0]
    assert (v["rule"], v["field"]) == ("YXC-FILE-REF", "photo")
    assert v["clause"] == "000 附件四 A.6.2.3.1 表A.2 #8"
    assert "needs coachimg" in v["message"]


def test_unknown_file_id_is_refused(harness) -> None:
    ids = _ids(harness)
    reply = harness.post_json("student", YxcData(3).student({**ids, "stucontract": 99999}))
    assert reply["errorcode"] == 1
    assert reply["data"]["violations"][0]["field"] == "contract"


def test_another_vendors_file_id_is_refused(harness, tmp_path) -> None:
    other = enrol(harness.store, "yxc", "B0002", tmp_path / "b")
    other_signer = Signer.from_pem_files(other.files["key"], other.files["cert"])
    foreign = harness.upload("stuimg", files.png(), signer=other_signer)["data"]["id"]
    reply = harness.post_json("student", YxcData(3).student({**_ids(harness), "stuimg": foreign}))
    assert reply["errorcode"] == 1
    assert "another platform" in reply["data"]["violations"][0]["message"]


def test_certificate_needs_a_filed_student_strict_but_not_tolerant(make_harness, tmp_path) -> None:
    strict = make_harness()
    body = YxcData(3).certificate(_ids(strict), "S000000000000099")
    reply = strict.post_json("learningcertificate", body)
    assert reply["errorcode"] == 1 and reply["data"]["violations"][0]["rule"] == "YXC-REF-STUDENT"
    tolerant = make_harness(profile="tolerant", db=tmp_path / "t.db")
    assert tolerant.post_json("learningcertificate", YxcData(3).certificate(_ids(tolerant), "S000000000000099"))["errorcode"] == 0


def test_scores_above_100_are_refused(harness) -> None:
    body = YxcData(3).certificate(_ids(harness), "S000000000000099")
    body["scores"] = 101
    reply = harness.post_json("learningcertificate", body)
    assert reply["errorcode"] == 200
    # V3 allows 999: the cap of 100 is the harness's decision, and the refusal (and so the certify verdict) names it
    assert "D-YXC-SCORES" in reply["data"]["violations"][0]["clause"], reply


def test_employment_period_must_not_run_backwards(harness) -> None:
    body = YxcData(3).coach(_ids(harness))
    body["pykssj"], body["pyjssj"] = "20250101", "20240101"
    reply = harness.post_json("coach", body)
    assert reply["errorcode"] == 1 and reply["data"]["violations"][0]["rule"] == "YXC-COACH-EMPLOY-PERIOD"
