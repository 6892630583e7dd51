from harness.conformance import catalogue
from harness.conformance.model import CheckResult
from harness.yxc.rules import DEFINITIONS as RULES


def test_every_yxc_rule_is_in_the_catalogue_with_its_clause():
    reqs = catalogue.by_id("yxc")
    for rule in RULES:
        req = reqs[rule.id]
        assert req.clause == rule.clause and req.text == rule.title
        assert rule.id in req.rules and rule.id in req.checks
        assert req.decision == rule.decision


def test_scan_flow_requirements_have_stable_ids():
    ids = set(catalogue.by_id("yxc"))
    for wanted in (
        "YXC-QR-SYMBOLOGY",
        "YXC-QR-SIZE",
        "YXC-QR-LENGTH",
        "YXC-QR-URL",
        "YXC-QR-REDIRECT",
        "YXC-QR-TIMESTAMP",
        "YXC-QR-CALLBACK",
        "YXC-CB-ECHO",
        "YXC-CB-REPLY-SHAPE",
        "YXC-CB-REPLY-CODES",
        "YXC-APP-PAGE",
        "YXC-APP-WINDOW",
        "YXC-APP-ANSWER",
    ):
        assert wanted in ids
    for req in catalogue.load("yxc"):
        assert req.clause and req.text


def _result(check, status, *reqs):
    return CheckResult(check, check, "c", status, requirements=reqs)


def test_coverage_never_hides_a_requirement():
    reqs = catalogue.load("yxc")
    rows = catalogue.coverage(
        reqs,
        [
            _result("YXC-CR-TOTAL", "passed", "YXC-CR-TOTAL"),
            _result("YXC-CR-TOTAL", "failed", "YXC-CR-TOTAL"),
            _result("YXC-CR-PHOTO2", "skipped", "YXC-CR-PHOTO2"),
            _result("YXC-CR-REGIONSEQ", "passed", "YXC-CR-REGIONSEQ"),
        ],
    )
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == len(reqs)
    assert by_id["YXC-CR-TOTAL"]["coverage"] == "failed"
    assert by_id["YXC-CR-TOTAL"]["checks"] == [{"id": "YXC-CR-TOTAL", "status": "failed", "results": 2}]
    assert by_id["YXC-CR-PHOTO2"]["coverage"] == "not covered"
    assert by_id["YXC-CR-REGIONSEQ"]["coverage"] == "passed"
    assert by_id["YXC-QR-SIZE"]["coverage"] == "not covered" and by_id["YXC-QR-SIZE"]["checks"] == []
