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


def test_the_roster_at_rest_holds_no_learner_in_clear_and_still_answers(zj: Zjpx) -> None:
    intake = zj.file_class(seed=63, students=2)
    learner = intake["thirdClassStudentInfoVoList"][0]
    tables = ("zjpx_learners", "zjpx_enrolments", "zjpx_classes", "zjpx_realname")
    reply = zj.call(
        "/api/v1/authentication", {"studyPlatformCode": zj.code, "cardNo": learner["cardNo"].lower(), "name": learner["studentName"]}
    )
    assert reply["returnCode"] == "0", reply  # the x/X spelling of the number, the name compared by keyed hash
    wrong = zj.call("/api/v1/authentication", {"studyPlatformCode": zj.code, "cardNo": learner["cardNo"], "name": "某某某"})
    assert wrong["returnCode"] == "1", wrong
    kept = json.dumps([[dict(r) for r in zj.store.query(f"SELECT * FROM {t}")] for t in tables], ensure_ascii=False)
    for s in intake["thirdClassStudentInfoVoList"]:
        for key in ("cardNo", "studentName", "studentPhone"):
            assert str(s[key]) not in kept and str(s[key]).upper() not in kept, key


def test_an_older_store_s_roster_is_hashed_by_its_migration(tmp_path) -> None:
    from harness.schema import open_store
    from harness.zjpx import state

    store = open_store(tmp_path / "h.db")
    store.execute(
        "INSERT INTO zjpx_learners (platform_code, card_no, name, student_code, mobile, photo_url, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("P", "11010519491231002X", "张三", "S1", "13812345678", None, 1),
    )
    store.execute("INSERT INTO zjpx_realname (platform_code, card_no, at_ms) VALUES ('P', '11010519491231002X', 1)")
    state.hash_roster(store._conn, store)  # what schema step 2 runs on a store from before
    row = store.query_one("SELECT card_no, name, mobile FROM zjpx_learners")
    assert all(str(v).startswith("hmac-sha256:") for v in row), dict(row)
    assert state.learner(store, "P", "11010519491231002x") is not None and state.realname_verified(store, "P", "11010519491231002X")
    store.close()
