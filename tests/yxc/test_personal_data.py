"""Personal data of 000 附件四 (表A.2 coach, 表A.4 student) never sits in clear in the journal or the record table:
the platform journals it as keyed hashes (YxcPlatform.secret_fields) and judges it as sent."""

from __future__ import annotations

from starlette.testclient import TestClient

from fixtures import files
from fixtures.yxc import YxcData


def _filed(harness) -> tuple[dict, dict]:
    ids = {t: harness.upload(t, files.png())["data"]["id"] for t in ("coachimg", "jsz", "sfz", "stuimg")}
    ids["pyht"] = harness.upload("pyht", files.pdf())["data"]["id"]
    data = YxcData(7)
    coach, student = data.coach(ids), data.student(ids)
    assert harness.post_json("coach", coach)["errorcode"] == 0
    assert harness.post_json("student", student)["errorcode"] == 0
    return coach, student


def test_coach_and_student_personal_fields_are_journaled_and_stored_as_keyed_hashes(harness) -> None:
    coach, student = _filed(harness)
    clear = [coach[k] for k in ("name", "idcard", "mobile")] + [student[k] for k in ("name", "idcard", "phone")]
    rows = harness.store.query("SELECT request_body, reply_body, verdicts FROM journal WHERE platform = 'yxc'")
    journal = "".join(f"{r['request_body']}{r['reply_body']}{r['verdicts']}" for r in rows)
    records = "".join(r["body"] for r in harness.store.query("SELECT body FROM yxc_records"))
    for value in clear:
        assert value not in journal and value not in records, value
    assert journal.count('"idcard": "hmac-sha256:') + journal.count('"idcard":"hmac-sha256:') == 2
    # the control API and the HAR export show what the journal holds
    with TestClient(harness.app, client=("127.0.0.1", 5000)) as client:
        for url in ("/_harness/journal?operation=student", "/_harness/journal?operation=coach"):
            text = client.get(url).text
            assert all(value not in text for value in clear) and "hmac-sha256:" in text


def test_a_bad_personal_field_is_still_judged_as_sent(harness) -> None:
    ids = {t: harness.upload(t, files.png())["data"]["id"] for t in ("stuimg",)}
    student = YxcData(8).student(ids)
    student["idcard"] = ""
    reply = harness.post_json("student", student)
    assert reply["errorcode"] == 200 and "idcard" in str(reply["data"]["violations"])


def test_only_a_remote_record_may_leave_out_coachnum_carnum_simunum(harness) -> None:
    """表A.8 #3–#5 远程教育平台不使用 (D-YXC-REMOTE-UNUSED): a practical record without coachnum is still refused."""
    data = YxcData(9)
    body = data.classrecord(
        stunum="S440106200129437", coachnum="C" * 16, platnum="A0001", photos=[1, 2, 3], logininfo="X" * 32, logoutinfo=None
    )
    del body["coachnum"]
    reply = harness.post_json("classrecord", body)
    mine = [v for v in reply["data"]["violations"] if v["field"] == "body.coachnum"]
    assert reply["errorcode"] == 200 and mine and not any(v.get("decision") for v in mine), reply  # MUST: no decision relaxes it
    remote = {**body, "subjcode": "4211010000", "carnum": "", "simunum": ""}
    reply = harness.post_json("classrecord", remote)  # the strict profile refuses what only D-YXC-REMOTE-UNUSED accepts
    unused = [v for v in reply["data"]["violations"] if v["field"] in ("body.coachnum", "body.carnum", "body.simunum")]
    assert len(unused) == 3 and all(v.get("decision") == "D-YXC-REMOTE-UNUSED" for v in unused), reply


def test_a_remote_record_may_name_a_student_another_platform_filed(make_harness) -> None:
    """000 2.2 2): the remote platform reports records of students their timing platform filed (A.6.3.1.1 用于计时平台)."""
    import json

    timing = make_harness()
    ids = {"stuimg": timing.upload("stuimg", files.png())["data"]["id"]}
    student = YxcData(11).student(ids)
    assert timing.post_json("student", student)["errorcode"] == 0
    remote = make_harness(platnum="A0002", db=timing.settings.db)
    photos = [remote.upload("onlineimg", files.png())["data"]["id"] for _ in range(3)]
    record = YxcData(11).classrecord(
        stunum=student["stunum"], coachnum="0" * 16, platnum="A0002", photos=photos, logininfo="X" * 32, logoutinfo=None, mode="4", part="1"
    )
    record.update(inscode=student["inscode"], mileage=0, avevelocity=0)
    remote.post_json("classrecord", record)
    row = remote.store.query_one("SELECT verdicts FROM journal WHERE operation = 'classrecord' ORDER BY id DESC LIMIT 1")
    verdicts = [v for v in json.loads(row["verdicts"]) if v["rule"] == "YXC-REF-STUDENT"]
    assert verdicts and all(v["held"] for v in verdicts), verdicts
