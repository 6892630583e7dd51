from harness.conformance import catalogue
from harness.conformance.model import CheckResult
from harness.yxc.rules import RULES


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
        "YXC-QR-PIXELS",
        "YXC-QR-BYTES",
        "YXC-QR-URL",
        "YXC-QR-REDIRECT-HTTPS",
        "YXC-QR-REDIRECT-DOMAIN",
        "YXC-QR-REDIRECT-NOQUERY",
        "YXC-QR-TIMESTAMP",
        "YXC-QR-CALLBACK",
        "YXC-REG-CALLBACK-URL",
        "YXC-CB-REJECT-UNKNOWN-CALLBACK",
        "YXC-CB-REPLY-SHAPE",
        "YXC-CB-ERRORCODE-TABLE",
        "YXC-APP-PAGE",
        "YXC-APP-WINDOW",
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
    assert by_id["YXC-QR-PIXELS"]["coverage"] == "not covered" and by_id["YXC-QR-PIXELS"]["checks"] == []


def test_roles_and_checkers_use_catalogue_ids_only():
    """One naming: every requirement a check or a checker cites is an entry of the catalogue."""
    from harness.yxc import appjump, appjump_role, callback_role, qr

    ids = set(catalogue.by_id("yxc"))
    server_checks = [*callback_role.CHECKS, *appjump_role.CHECKS]
    cited = {rid for check in server_checks for rid in check.requirements}
    cited |= {r.id for r in (*qr.REQUIREMENTS, *appjump.REQUIREMENTS, *callback_role.REQUIREMENTS)}
    assert cited <= ids, cited - ids
    for req in catalogue.load("yxc"):
        for check_id in req.checks:
            if not check_id.startswith("YXC-"):  # yxc-callback / yxc-app-jump check ids; YXC-… ids are yxc-timing-platform's
                assert any(c.id == check_id and req.id in c.requirements for c in server_checks), (req.id, check_id)
