"""Y10 电子教学日志 (000 附件四 A.6.3.2): every rule has a conforming record that passes and a violating one caught."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from fixtures import files
from fixtures.yxc import YxcData
from harness.yxc import codes
from harness.yxc.codes import BEIJING


class Scenario:
    """A vendor that filed a coach, a student and a simulator, and whose student signed in and out."""

    def __init__(self, harness) -> None:
        self.h = harness
        self.data = YxcData(11)
        ids = {
            t: harness.upload(t, files.png())["data"]["id"]
            for t in ("coachimg", "jsz", "sfz", "stuimg", "simulatorimg", "classroom", "onlineimg")
        }
        ids["pyht"] = harness.upload("pyht", files.pdf())["data"]["id"]
        self.ids = ids
        self.pdf_id = ids["pyht"]
        coach, student = self.data.coach(ids), self.data.student(ids)
        assert harness.post_json("coach", coach)["errorcode"] == 0
        assert harness.post_json("student", student)["errorcode"] == 0
        assert harness.post_json("trainingsimulator", self.data.simulator(ids, "0007"))["errorcode"] == 0
        self.coachnum, self.stunum = coach["coachnum"], student["stunum"]
        self.login = codes.issue(harness.store, self.stunum, "login", 3600).code
        self.logout = codes.issue(harness.store, self.stunum, "logout", 3600).code

    def record(self, **overrides: Any) -> dict[str, Any]:
        kwargs = dict(
            stunum=self.stunum,
            coachnum=self.coachnum,
            platnum="A0001",
            photos=[self.ids["classroom"], self.ids["onlineimg"], self.ids["stuimg"]],
            logininfo=self.login,
            logoutinfo=self.logout,
        )
        fields = {k: overrides.pop(k) for k in list(overrides) if k in kwargs or k in ("minutes", "mode", "part", "recnum", "start")}
        kwargs.update(fields)
        body = self.data.classrecord(**kwargs)
        body.update(overrides)
        return body

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.h.post_json("classrecord", body)


@pytest.fixture
def scenario(harness) -> Scenario:
    return Scenario(harness)


def refused(reply: dict[str, Any], rule: str) -> dict[str, Any]:
    assert reply["errorcode"] != 0, reply
    found = [v for v in reply["data"]["violations"] if v["rule"] == rule]
    assert found, reply
    return found[0]


def test_conforming_practical_record_passes(scenario: Scenario) -> None:
    assert scenario.send(scenario.record())["errorcode"] == 0


def test_duration_must_equal_end_minus_start(scenario: Scenario) -> None:
    v = refused(scenario.send(scenario.record(duration="44")), "YXC-CR-DURATION")
    assert v["clause"] == "000 附件四 A.6.3.2 表A.8 #12–#14"


def test_end_before_start_is_refused(scenario: Scenario) -> None:
    body = scenario.record()
    body["starttime"], body["endtime"] = body["endtime"], body["starttime"]
    refused(scenario.send(body), "YXC-CR-DURATION")


def test_total_is_the_sum_of_parts(scenario: Scenario) -> None:
    refused(scenario.send(scenario.record(total=46)), "YXC-CR-TOTAL")


def test_photo2_required_beyond_15_minutes_only(scenario: Scenario) -> None:
    body = scenario.record(minutes=16)
    del body["photo2"]
    refused(scenario.send(body), "YXC-CR-PHOTO2")
    short = scenario.record(minutes=15, recnum="00002")
    assert "photo2" not in short
    assert scenario.send(short)["errorcode"] == 0


def test_photo2_is_judged_on_endtime_minus_starttime_not_on_the_floored_duration(scenario: Scenario) -> None:
    """15 min 30 s of training: duration is 15 (floored, D-YXC-DURATION), but it lasted more than 15 minutes."""
    body = scenario.record(minutes=15, recnum="00005")
    start = dt.datetime.strptime(body["starttime"], "%Y%m%d%H%M%S")
    body["endtime"] = (start + dt.timedelta(minutes=15, seconds=30)).strftime("%Y%m%d%H%M%S")
    assert body["duration"] == "15" and "photo2" not in body
    v = refused(scenario.send(body), "YXC-CR-PHOTO2")
    assert "15 min 30 s" in v["message"] and v["clause"].startswith("000 附件四 A.6.3.2 表A.8 #10")
    exactly = scenario.record(minutes=15, recnum="00006")  # exactly 15 minutes: not more than 15
    assert "photo2" not in exactly and scenario.send(exactly)["errorcode"] == 0


def test_photo_ids_must_be_this_vendors_images(scenario: Scenario) -> None:
    refused(scenario.send(scenario.record(photo1=str(scenario.pdf_id))), "YXC-CR-PHOTO-REF")
    refused(scenario.send(scenario.record(photo3="987654")), "YXC-CR-PHOTO-REF")


def test_regionseq_required_for_subject_two(scenario: Scenario) -> None:
    body = scenario.record(part="2")
    del body["regionseq"]
    refused(scenario.send(body), "YXC-CR-REGIONSEQ")
    assert scenario.send(scenario.record(part="3", recnum="00003"))["errorcode"] == 0


def test_logoutinfo_required_except_remote_teaching(scenario: Scenario) -> None:
    refused(scenario.send(scenario.record(logoutinfo=None)), "YXC-CR-LOGOUTINFO-REQUIRED")
    remote = scenario.record(mode="4", part="1", logoutinfo=None, recnum="00004")
    assert scenario.send(remote)["errorcode"] == 0


def test_non_practical_records_have_zero_mileage_and_speed(scenario: Scenario) -> None:
    refused(scenario.send(scenario.record(mode="2", part="1", mileage=3)), "YXC-CR-NONROAD-ZERO")


def test_logininfo_must_be_a_code_issued_to_that_student(scenario: Scenario) -> None:
    refused(scenario.send(scenario.record(logininfo="0123456789ABCDEF0123456789ABCDEF")), "YXC-CR-LOGININFO")
    other = codes.issue(scenario.h.store, "S999999999999999", "login", 3600).code
    assert "issued to stunum" in refused(scenario.send(scenario.record(logininfo=other)), "YXC-CR-LOGININFO")["message"]
    refused(scenario.send(scenario.record(logininfo=scenario.logout)), "YXC-CR-LOGININFO")


def test_expired_code_is_refused_strict(scenario: Scenario) -> None:
    expired = codes.issue(scenario.h.store, scenario.stunum, "login", 3600)
    scenario.h.store.execute("UPDATE yxc_codes SET expires_ms = expires_ms - 7200000 WHERE code = ?", (expired.code,))
    assert "expired" in refused(scenario.send(scenario.record(logininfo=expired.code)), "YXC-CR-LOGININFO")["message"]


def test_a_login_code_backs_one_record(scenario: Scenario) -> None:
    assert scenario.send(scenario.record(recnum="00010"))["errorcode"] == 0
    assert scenario.send(scenario.record(recnum="00010"))["errorcode"] == 0  # re-filing the same record
    refused(scenario.send(scenario.record(recnum="00011")), "YXC-CR-LOGININFO")


def test_subjcode_layout(scenario: Scenario) -> None:
    for bad in ("1992010000", "1212010001"):  # vehicle code 99; trailing digits not 0000
        body = scenario.record(subjcode=bad)
        reply = scenario.send(body)
        assert reply["errorcode"] in (1, 200), reply
        assert any(v["rule"] in ("YXC-CR-SUBJCODE", "SCHEMA") for v in reply["data"]["violations"])
    refused(scenario.send(scenario.record(subjcode="1992010000")), "YXC-CR-SUBJCODE")


def test_platnum_must_be_the_certificates(scenario: Scenario) -> None:
    refused(scenario.send(scenario.record(platnum="Z9999")), "YXC-CR-PLATNUM")


def test_simulator_record_carnum_names_a_filed_simulator(scenario: Scenario) -> None:
    good = scenario.record(mode="3", part="1", carnum=scenario.data.inscode[:12] + "0007", recnum="00020")
    assert scenario.send(good)["errorcode"] == 0
    refused(scenario.send(scenario.record(mode="3", part="1", carnum="X" * 12 + "0042", recnum="00021")), "YXC-CR-SIM-CARNUM")


def test_practical_record_needs_a_filed_coach_and_student(scenario: Scenario) -> None:
    refused(scenario.send(scenario.record(coachnum="C999999999999999")), "YXC-REF-COACH")
    stranger = "S888888888888888"
    code = codes.issue(scenario.h.store, stranger, "login", 3600).code
    out = codes.issue(scenario.h.store, stranger, "logout", 3600).code
    refused(scenario.send(scenario.record(stunum=stranger, logininfo=code, logoutinfo=out)), "YXC-REF-STUDENT")


def test_tolerant_profile_relaxes_duration_rounding_and_late_upload(make_harness, tmp_path) -> None:
    s = Scenario(make_harness(profile="tolerant", db=tmp_path / "t.db"))
    assert s.send(s.record(duration="44"))["errorcode"] == 0  # ±1 minute
    late = codes.issue(s.h.store, s.stunum, "login", 3600)
    s.h.store.execute(
        "UPDATE yxc_codes SET expires_ms = ? WHERE code = ?", (int(dt.datetime.now(BEIJING).timestamp() * 1000) - 1000, late.code)
    )
    start = dt.datetime.now(BEIJING).replace(microsecond=0) - dt.timedelta(hours=3)
    assert s.send(s.record(logininfo=late.code, start=start, recnum="00030"))["errorcode"] == 0


def test_every_rule_outcome_is_journaled_with_its_clause(scenario: Scenario) -> None:
    scenario.send(scenario.record(total=1))
    entry = scenario.h.app.state_journal.query(operation="classrecord", limit=1)[0]
    assert entry["outcome"] == "failed"
    verdicts = {v["rule"]: v for v in entry["verdicts"]}
    assert verdicts["YXC-CR-TOTAL"]["held"] is False
    assert verdicts["YXC-CR-DURATION"]["held"] is True
    assert all(v["clause"] for v in entry["verdicts"])


def test_logoutinfo_must_be_a_sign_out_code_issued_to_that_student(scenario: Scenario) -> None:
    refused(scenario.send(scenario.record(logoutinfo="FEDCBA9876543210FEDCBA9876543210")), "YXC-CR-LOGOUTINFO")
    login_as_logout = codes.issue(scenario.h.store, scenario.stunum, "login", 3600).code
    assert "not a sign-out code" in refused(scenario.send(scenario.record(logoutinfo=login_as_logout)), "YXC-CR-LOGOUTINFO")["message"]
    others = codes.issue(scenario.h.store, "S777777777777777", "logout", 3600).code
    assert "issued to stunum" in refused(scenario.send(scenario.record(logoutinfo=others)), "YXC-CR-LOGOUTINFO")["message"]


def test_a_training_that_ends_after_the_record_was_filed_is_flagged(make_harness, tmp_path) -> None:
    """表A.8 #13: a record whose training ends 75 minutes from now (Beijing time written with +8 h twice, a clock ahead)
    was accepted without a word; strict refuses it, tolerant accepts it with a SHOULD verdict naming the decision."""
    ahead = dt.datetime.now(BEIJING).replace(microsecond=0) + dt.timedelta(minutes=30)
    strict = Scenario(make_harness(profile="strict", db=tmp_path / "s.db"))
    v = refused(strict.send(strict.record(start=ahead)), "YXC-CR-ENDTIME-PAST")
    assert v["clause"].startswith("000 附件四 A.6.3.2 表A.8 #13") and "after the province received" in v["message"]
    tolerant = Scenario(make_harness(profile="tolerant", db=tmp_path / "t.db"))
    assert tolerant.send(tolerant.record(start=ahead))["errorcode"] == 0
    entry = tolerant.h.app.state_journal.query(operation="classrecord", limit=1)[0]
    verdict = next(v for v in entry["verdicts"] if v["rule"] == "YXC-CR-ENDTIME-PAST")
    assert (verdict["held"], verdict["level"], verdict["decision"]) == (False, "SHOULD", "D-YXC-ENDTIME-FUTURE")
    # within the ts window (180 s) a clock slightly ahead is still in step
    near = dt.datetime.now(BEIJING).replace(microsecond=0) - dt.timedelta(minutes=45) + dt.timedelta(seconds=60)
    assert strict.send(strict.record(start=near, recnum="00002"))["errorcode"] == 0
