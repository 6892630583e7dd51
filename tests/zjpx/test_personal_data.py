"""Learners' and teachers' personal data (002 §1.2 real-name check, §2.1–§2.4 intake: ID numbers, names, mobiles)
never sits in clear in the journal: the ZJPX platform journals it as keyed hashes (ZjpxPlatform.secret_fields), the ID
numbers upper-cased first, so that the roles still match a learner across rows whichever case its check character has."""

from __future__ import annotations

import json

from fixtures.zjpx import ZjpxData
from harness.zjpx.business import shown_card
from tests.zjpx.conftest import Zjpx


def test_a_class_intake_is_journaled_without_a_learner_in_clear(zj: Zjpx) -> None:
    intake = zj.file_class(seed=61, students=2)
    learners = intake["thirdClassStudentInfoVoList"]
    clear = [s[k] for s in learners for k in ("cardNo", "studentName", "studentPhone")]
    journal = json.dumps(zj.journal(), ensure_ascii=False)
    for value in clear:
        assert value not in journal, value
    pushed = next(e for e in zj.journal() if "thirdClassStudentInfoVoList" in (e["request_body"] or ""))
    cards = [s["cardNo"] for s in json.loads(pushed["request_body"])["data"]["thirdClassStudentInfoVoList"]]
    assert len(cards) == 2 and all(c.startswith("hmac-sha256:") for c in cards), cards


def test_an_id_number_hashes_alike_whichever_case_its_check_character_has(zj: Zjpx) -> None:
    masker = zj.platform.masker
    lower = b'{"cardNo": "11010519491231002x"}'
    upper = b'{"cardNo": "11010519491231002X"}'
    assert masker.json_bytes(lower) == masker.json_bytes(upper)
    assert masker.json_bytes(b'{"studentName": "Li"}') != masker.json_bytes(b'{"studentName": "LI"}')  # names as sent
    hashed = json.loads(masker.json_bytes(upper))["cardNo"]
    assert shown_card(hashed.upper()) == "…002X" and shown_card("11010519491231002X") == "1101…2X"


def test_teacher_and_student_intake_hash_their_people(zj: Zjpx) -> None:
    data = ZjpxData(62)
    teacher = data.teacher_info()
    assert zj.call("/api/user/v1/teacherInfo", teacher)["returnCode"] == "0", teacher
    journal = json.dumps(zj.journal(), ensure_ascii=False)
    for key in ("teaName", "teaCard", "mobile"):
        if teacher.get(key):
            assert str(teacher[key]) not in journal, key
