import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from harness.cli import main
from tests.yxc.vendor_session import play


def certify(session, out, *extra):
    args = ["certify", "yxc-timing-platform", "--vendor", session.user, "--db", str(session.db), "--report", str(out), "--seed", "42"]
    return CliRunner().invoke(main, [*args, *extra])


@pytest.fixture(scope="module")
def conforming(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conforming")
    session = play(tmp)
    result = certify(session, tmp / "out")
    return session, tmp / "out", result


def test_a_conforming_vendor_passes(conforming):
    session, out, result = conforming
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "passed" and report["seed"] == 42 and report["certification_valid"] is True
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    for step in ("YXC-TP-STEP-IMAGEUP", "YXC-TP-STEP-COACH", "YXC-TP-STEP-STUDENT", "YXC-TP-STEP-CLASSRECORD"):
        assert statuses[step] == "passed"
    assert statuses["YXC-CR-LOGININFO"] == "passed" and statuses["YXC-SIGN-VERIFY"] == "passed"
    assert statuses["YXC-CR-SIM-CARNUM"] == "skipped"  # no simulator record was sent: not exercised, not hidden
    assert set(report["spec_hashes"]) >= {"specs/yxc/province.yaml", "specs/yxc/requirements.yaml"}
    assert report["harness_version"] and report["started_at"] and report["finished_at"]


def test_progress_lines(conforming):
    _, _, result = conforming
    assert "[5/31] YXC-TP-STEP-CLASSRECORD … passed" in result.output
    assert "verdict: passed" in result.output


def test_evidence_masks_personal_data(conforming):
    session, out, _ = conforming
    text = (out / "report.json").read_text(encoding="utf-8")
    step = next(c for c in json.loads(text)["checks"] if c["id"] == "YXC-TP-STEP-COACH")
    body = step["evidence"][0]["request"]["body"]
    for name in ("name", "idcard", "mobile"):  # journaled as keyed hashes (YxcPlatform.secret_fields), shown as they are
        assert body[name].startswith("hmac-sha256:"), body[name]
    assert body["coachnum"].startswith("C") and "*" not in body["coachnum"]
    # Nothing unmasked anywhere in the bundle: the sent coach's real values never appear.
    from fixtures.yxc import YxcData

    coach = YxcData(1).coach({k: 1 for k in ("coachimg", "jsz", "sfz", "pyht")})
    for name in ("report.json", "report.html", "junit.xml"):
        content = (out / name).read_text(encoding="utf-8")
        assert coach["idcard"] not in content and coach["mobile"] not in content and coach["name"] not in content


def test_missing_classrecord_fails_naming_the_step(tmp_path):
    session = play(tmp_path, classrecord=False)
    result = certify(session, tmp_path / "out")
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    step = next(c for c in report["checks"] if c["id"] == "YXC-TP-STEP-CLASSRECORD")
    assert step["status"] == "failed" and "missing step" in step["message"] and "logininfo" in step["message"]
    assert step["clause"] == "000 2.1.2 2); 000 附件四 A.6.3.2 表A.8 #24"
    assert "YXC-TP-STEP-CLASSRECORD … failed  [000 2.1.2 2); 000 附件四 A.6.3.2 表A.8 #24] missing step" in result.output


def test_a_failed_call_fails_naming_rule_and_clause(tmp_path):
    session = play(tmp_path, wrong_total=True)
    result = certify(session, tmp_path / "out")
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert [c["id"] for c in failed] == ["YXC-CR-TOTAL"]
    assert failed[0]["clause"] == "000 附件四 A.6.3.2 表A.8 #18–#22" and failed[0]["message"].startswith("journal #")
    assert ": YXC-CR-TOTAL: total" in failed[0]["message"]  # where, then what: the shape every journal-graded role reports
    evidence = failed[0]["evidence"][0]
    assert evidence["request"]["body"]["total"] == evidence["request"]["body"]["part2"] + 5
    assert evidence["reply"]["body"]["errorcode"] == 1
    case = ET.parse(tmp_path / "out" / "junit.xml").getroot().find(".//testcase[@name='YXC-CR-TOTAL']")
    assert "000 附件四 A.6.3.2 表A.8 #18–#22" in case.find("failure").get("message")


def test_a_bad_signature_fails_and_the_student_step_is_missing(tmp_path):
    session = play(tmp_path, bad_signature=True)
    result = certify(session, tmp_path / "out")
    assert result.exit_code == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in report["checks"]}
    assert by_id["YXC-SIGN-VERIFY"]["status"] == "failed" and "202" in by_id["YXC-SIGN-VERIFY"]["clause"]
    assert (
        by_id["YXC-TP-STEP-STUDENT"]["status"] == "failed"
        and "refused, the last by YXC-SIGN-VERIFY" in by_id["YXC-TP-STEP-STUDENT"]["message"]
    )


def test_a_call_outside_the_interface_definition_fails_naming_the_field_clause(tmp_path):
    session = play(tmp_path, missing_field=True)  # then retried correctly: the refused call still counts
    result = certify(session, tmp_path / "out")
    assert result.exit_code == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert [c["id"] for c in failed] == ["YXC-TP-INTERFACE"]
    assert failed[0]["clause"] == "000 附件四 A.6.2.3.1 表A.2 #3" and "'name' is a required property" in failed[0]["message"]


def test_a_lowercase_serial_is_a_reading_the_decision_allows(tmp_path):
    session = play(tmp_path, lowercase_user=True)  # D-YXC-SIGN: the strict reading wants the serial in uppercase hex
    result = certify(session, tmp_path / "out")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in report["checks"]}
    assert by_id["YXC-SIGN-CERT"]["status"] == "warning"
    assert "D-YXC-SIGN" in by_id["YXC-SIGN-CERT"]["message"] and "uppercase" in by_id["YXC-SIGN-CERT"]["message"]


def test_since_grades_only_a_fresh_session(tmp_path):
    session = play(tmp_path, wrong_total=True)
    result = certify(session, tmp_path / "out", "--since", "100000")
    assert result.exit_code == 1  # nothing after that id: every step is missing
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert {c["id"]: c["status"] for c in report["checks"]}["YXC-CR-TOTAL"] == "skipped"


def test_unknown_vendor_is_one_line_and_exit_2_with_no_report(conforming, tmp_path):
    """As every journal-graded role refuses a subject the store does not hold (a YMT merchant, a DUDU enterprise): at
    `certify start` as at grading, one line, exit 2, and no report bundle claiming a verdict."""
    session, _, _ = conforming
    args = ["certify", "yxc-timing-platform", "--vendor", "DEADBEEF", "--db", str(session.db), "--report", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "no YXC vendor is enrolled with user 'DEADBEEF'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out" / "report.json").exists()
    started = CliRunner().invoke(main, ["certify", "start", "yxc-timing-platform", "--vendor", "DEADBEEF", "--db", str(session.db)])
    assert started.exit_code == 2 and "no YXC vendor is enrolled with user 'DEADBEEF'" in started.output
    assert len([line for line in started.output.splitlines() if line.strip()]) == 1


def test_the_verdicts_do_not_depend_on_the_profile(conforming, tmp_path):
    """The journal holds the verdicts the reference reached; --profile tolerant grades them the same way."""
    session, out, _ = conforming
    result = certify(session, tmp_path / "out", "--profile", "tolerant", "--quiet")
    assert result.exit_code == 0 and result.output == ""
    tolerant = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    strict = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert tolerant["certification_valid"] is True
    assert [(c["id"], c["status"]) for c in tolerant["checks"]] == [(c["id"], c["status"]) for c in strict["checks"]]


def _graded(*entries):
    from harness.yxc.certify import CHECKS, Graded

    graded = Graded(store=None, user="X", since=None, checks={c.id: c for c in CHECKS})
    graded.entries = list(entries)
    return graded


def _entry(i, verdicts, code="0", operation="classrecord"):
    entry = {"id": i, "method": "POST", "path": f"/yxc/{operation}", "query": "", "at": "t", "request_body": "{}", "request_size": 2}
    return entry | {
        "request_sha256": "",
        "request_headers": {},
        "status": 200,
        "reply": {},
        "verdicts": verdicts,
        "code": code,
        "operation": operation,
        "vendor": "X",
    }


def test_a_failed_should_verdict_is_a_warning_naming_its_decision_and_a_must_one_fails():
    from harness.yxc.certify import _interface, _rule

    should = {"rule": "SCHEMA", "clause": "000 附件四 表A.8 #14", "held": False, "message": "duration as a number"}
    should |= {"level": "SHOULD", "decision": "D-YXC-NUMSTR"}
    must = {"rule": "SCHEMA", "clause": "000 附件四 表A.8 #2", "held": False, "message": "stunum missing"}
    results = _interface(_graded(_entry(1, [should]), _entry(2, [must], code="200")))
    assert [r.status for r in results] == ["warning", "failed"]
    assert results[0].decision == "D-YXC-NUMSTR" and "D-YXC-NUMSTR" in results[0].message and results[0].clause == should["clause"]
    assert results[1].clause == must["clause"] and results[1].fails_run
    total = {"rule": "YXC-CR-TOTAL", "clause": "000 附件四 A.6.3.2 表A.8 #18–#22", "held": False, "message": "x"}
    rule_results = _rule("YXC-CR-TOTAL")(_graded(_entry(3, [{**total, "level": "SHOULD", "decision": "D-X"}])))
    assert [(r.status, r.decision) for r in rule_results] == [("warning", "D-X")]


def test_a_refused_call_without_a_failed_verdict_is_not_overlooked():
    from harness.yxc.certify import _interface

    held = {"rule": "YXC-SIGN-CERT", "clause": "c", "held": True}
    results = _interface(_graded(_entry(1, [held], code="1")))
    assert [r.status for r in results] == ["failed"] and "errorcode 1" in results[0].message


def test_nothing_to_judge_is_skipped_not_passed():
    from harness.yxc.certify import _interface

    assert _interface(_graded())[0] == "skipped"


def test_a_call_accepted_with_only_a_should_warning_still_completes_its_step():
    from harness.yxc.certify import STEPS, _step

    warn = {"rule": "SCHEMA", "clause": "c", "held": False, "level": "SHOULD", "decision": "D-X"}
    coach = next(s for s in STEPS if s.operation == "coach")
    assert _step(coach)(_graded(_entry(1, [warn], operation="coach")))[0] == "passed"
    assert _step(coach)(_graded(_entry(1, [warn], code="200", operation="coach")))[0] == "passed"  # refused only for it
    must = {"rule": "SCHEMA", "clause": "c", "held": False}
    assert _step(coach)(_graded(_entry(1, [warn, must], code="200", operation="coach")))[0] == "failed"


def test_every_check_has_a_level_from_the_catalogue():
    from harness.conformance import catalogue
    from harness.conformance.roles import role_class

    levels = {r.id: r.level for r in catalogue.load("yxc")}
    for check in role_class("yxc-timing-platform").checks:
        assert check.level in ("MUST", "SHOULD", "REVIEW")
        if check.id in levels:
            assert check.level == levels[check.id], check.id


def test_a_repeated_mistake_is_capped_with_a_count():
    from harness.yxc.certify import CHECKS, MAX_FINDINGS, Graded, _rule

    graded = Graded(store=None, user="X", since=None, checks={c.id: c for c in CHECKS})
    verdict = {"rule": "YXC-CR-TOTAL", "clause": "000 附件四 A.6.3.2 表A.8 #18–#22", "held": False, "message": "total wrong"}
    entry = {"method": "POST", "path": "/yxc/classrecord", "query": "", "at": "t", "request_body": "{}", "request_size": 2}
    entry |= {"request_sha256": "", "request_headers": {}, "status": 200, "reply": {}, "verdicts": [verdict]}
    graded.entries = [{**entry, "id": i} for i in range(MAX_FINDINGS + 70)]
    results = _rule("YXC-CR-TOTAL")(graded)
    assert len(results) == MAX_FINDINGS + 1
    assert results[-1].message.startswith("… and 70 more") and results[-1].evidence == ()


def test_a_sessions_call_the_gate_refused_before_naming_the_vendor_is_graded(tmp_path):
    """In a certification session every call under its base path is the vendor's, even one without ``user`` (the gate
    could not name a vendor): it is graded as refused, never read as missing; another session's call is not."""
    from harness.conformance.sessions import Window
    from harness.journal import Exchange, Journal
    from harness.pki import Vendor
    from harness.schema import open_store
    from harness.yxc.certify import Graded, load_entries

    store = open_store(tmp_path / "h.db")
    journal = Journal(store)
    for session in ("s1", "s2"):
        journal.record_now(Exchange("yxc", "POST", "/yxc/coach", "", {}, b"{}", status=200, code="202", session=session))
    vendor = Vendor(platform="yxc", user="u1", platnum="A0001", name=None, cert_pem="")
    entries = load_entries(Graded(store, "u1", window=Window(session="s1")), vendor)
    assert [(e["session"], e["code"]) for e in entries] == [("s1", "202")]
