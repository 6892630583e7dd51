import json
import re
import xml.etree.ElementTree as ET

from tests.reports.sample_run import ID_NUMBER, MOBILE, NAME, write


def test_report_json_has_the_run_facts_and_coverage(tmp_path):
    write(tmp_path / "out", tmp_path / "h.db")
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "failed" and report["role"] == "yxc-sample" and report["seed"] == 9
    assert report["totals"] == {
        "planned": 4,
        "passed": 1,
        "failed": 1,
        "warning": 1,  # the SHOULD check that failed
        "review": 0,
        "skipped": 1,
        "error": 0,
        "mandatory_failed": 1,
    }
    coverage = {r["id"]: r for r in report["coverage"]}
    assert coverage["YXC-CR-TOTAL"]["coverage"] == "failed"
    assert coverage["YXC-CR-PHOTO2"]["coverage"] == "passed"
    assert coverage["YXC-CR-SIM-CARNUM"]["coverage"] == "not covered"
    assert "YXC-QR-PIXELS" not in coverage  # the role cannot observe it: coverage counts what the role can see
    assert coverage["YXC-CR-TOTAL"]["level"] == "MUST"
    check = next(c for c in report["checks"] if c["id"] == "YXC-CR-TOTAL")
    assert "…(512 chars)" in check["evidence"][0]["request"]["url"]  # the signature is cut to an excerpt


def test_personal_data_is_masked_in_every_file(tmp_path):
    write(tmp_path / "out", tmp_path / "h.db")
    for name in ("report.json", "report.html", "junit.xml"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert ID_NUMBER not in text and MOBILE not in text and NAME not in text, name
    assert "4401**********1234" in (tmp_path / "out" / "report.json").read_text(encoding="utf-8")


def test_html_reads_without_tools(tmp_path):
    write(tmp_path / "out", tmp_path / "h.db")
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Verdict: FAILED" in html
    assert "Results by clause" in html and "000 附件四 A.6.3.2 表A.8 #18–#22" in html
    assert "Requirement coverage" in html and "not covered" in html and "YXC-CR-SIM-CARNUM" in html
    assert "WARNING" in html and "SHOULD" in html
    assert "advisory &lt;b&gt;only&lt;/b&gt;" in html  # escaped, never markup
    assert "NOT VALID FOR CERTIFICATION" not in html
    assert not re.search(
        r"<(script|link|img)\b|src=(?!url\(data:)|@import|url\((?!data:)", html
    )  # self-contained (the font is a data: URI)


def test_html_flags_an_uncertifiable_run(tmp_path):
    write(tmp_path / "out", tmp_path / "h.db", certification_valid=False)
    assert "NOT VALID FOR CERTIFICATION" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "out" / "report.json").read_text())["certification_valid"] is False


def test_junit_one_testcase_per_check(tmp_path):
    write(tmp_path / "out", tmp_path / "h.db")
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["YXC-CR-TOTAL", "YXC-CR-PHOTO2", "YXC-CR-SIM-CARNUM", "ADVISORY"]
    assert {c.get("classname") for c in cases} == {"yxc-sample"}
    failure = cases[0].find("failure")
    assert failure.get("message").startswith("[000 附件四 A.6.3.2 表A.8 #18–#22] YXC-CR-TOTAL")
    assert cases[2].find("skipped") is not None
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    # a WARNING is not a JUnit failure: the case passes, with a line saying so
    assert cases[3].find("failure") is None and cases[3].find("system-out").text.startswith("WARNING (SHOULD): [000 附件二 2]")


def test_the_console_masks_personal_data_and_cuts_long_messages_as_the_report_does(tmp_path):
    import io

    from harness.conformance.engine import CheckSet, failed
    from harness.conformance.runner import CONSOLE_CHARS, ProgressReporter, run_role
    from tests.reports.sample_run import events

    checks = CheckSet()
    checks.check("B-STUDENTS", title="students", clause="002 §2.5")(
        lambda ctx: failed("studentInfo: stuCard 330106197202147505 is listed twice; " + "x" * 5000)
    )
    stream = io.StringIO()
    run_role(events(checks=checks), tmp_path / "out", progress=False, db=tmp_path / "h.db", reporters=[ProgressReporter(stream)])
    console = stream.getvalue()
    assert "330106197202147505" not in console and "3301**********7505" in console
    line = next(line for line in console.splitlines() if "B-STUDENTS" in line)
    assert len(line) < CONSOLE_CHARS + 200 and "the report has the whole message" in line


def test_a_report_directory_that_cannot_be_made_is_one_line_and_exit_2(tmp_path, capsys):
    from harness.conformance.runner import run_role
    from tests.reports.sample_run import events

    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    assert run_role(events(), blocker / "out", progress=True, db=tmp_path / "h.db") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"harness: cannot write the report in {blocker / 'out'}: "), err


def test_started_at_covers_the_work_a_role_does_before_its_checks(tmp_path):
    """A role that runs its cases before grading (vectors, drills, fuzz cases) yields RunStarted after them: the
    report's started_at is when the role began, checks_started_at when grading did."""
    import datetime as dt
    import time

    from harness.conformance.runner import run_role
    from tests.reports.sample_run import events

    def role():
        time.sleep(0.3)  # the role's own work against the vendor
        yield from events()

    run_role(role(), tmp_path / "out", progress=False, db=tmp_path / "h.db")
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    began, graded, ended = (dt.datetime.fromisoformat(report[k]) for k in ("started_at", "checks_started_at", "finished_at"))
    assert began <= graded <= ended and (graded - began).total_seconds() >= 0.29, report
