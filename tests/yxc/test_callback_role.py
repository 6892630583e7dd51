"""Role yxc-callback against the reference vendor: conforming → passed; each planted defect → failed, naming its clause."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.conformance.model import CheckFinished, CheckResult, NonFatalError, RunFinished, RunStarted
from harness.errors import ConfigError
from harness.yxc import qr
from harness.yxc.callback_role import CHECKS, REQUIREMENTS, YxcCallbackRole, certify_yxc_callback


def run(role: YxcCallbackRole, seed: int = 11) -> tuple[RunStarted, list[CheckResult], RunFinished, list]:
    events = list(role.run(seed))
    started, finished = events[0], events[-1]
    assert isinstance(started, RunStarted) and isinstance(finished, RunFinished) and finished.is_terminal
    return started, [e.result for e in events if isinstance(e, CheckFinished)], finished, events


def by_status(results: list[CheckResult], status: str) -> dict[str, CheckResult]:
    return {r.check_id: r for r in results if r.status == status}


def test_conforming_vendor_on_https_localhost_is_a_development_run(start_vendor) -> None:
    """Self-signed https on localhost: every check passes with the development opt-out, but the run is not valid for
    certification and the report says why (validity.target_validity)."""
    vendor = start_vendor(https=True)
    started, results, finished, events = run(YxcCallbackRole(qr=vendor.qr_text(), ca_bundle=vendor.cert, allow_insecure_http=True))
    assert finished.verdict == "passed", [(r.check_id, r.message) for r in results if r.status != "passed"]
    assert not [r for r in results if r.status in ("failed", "warning", "error")]
    assert started.certification_valid is False
    assert "localhost is a local name" in started.options["validity"]
    assert any(isinstance(e, NonFatalError) and "development run" in e.message for e in events)
    assert started.target == vendor.callback_url
    assert started.spec_hashes.keys() == {"specs/yxc/timing-callback.yaml", "specs/yxc/requirements.yaml", "specs/decisions.yaml"}
    assert {r.id for r in started.requirements} >= {req for c in CHECKS for req in c.requirements}  # every check traces to a rule
    # Text input: only the image checks and the waived domain check are skipped; everything else ran and passed.
    assert set(by_status(results, "skipped")) == {"qr-symbology", "qr-pixels", "qr-redirect-domain"}
    assert by_status(results, "passed")["spec-negative"].message.startswith("30 generated negative")
    for result in results:
        assert result.clause.startswith(("000 ", "D-")), result


def test_localhost_callback_fails_the_domain_rule_without_the_opt_out(start_vendor) -> None:
    """000 2.1.1 有效域名,不支持IP地址: https://localhost is no public domain name, trusted certificate or not."""
    vendor = start_vendor(https=True)
    started, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), ca_bundle=vendor.cert, max_examples=2))
    assert finished.verdict == "failed"
    failed = by_status(results, "failed")
    assert set(failed) == {"qr-redirect-domain"}
    assert "local name" in failed["qr-redirect-domain"].message and "000 2.1.1" in failed["qr-redirect-domain"].clause
    assert started.certification_valid is False


def test_every_check_has_the_level_of_the_seed_words() -> None:
    levels = {c.id: c.level for c in CHECKS}
    assert {k for k, v in levels.items() if v == "SHOULD"} == {
        "reject-missing-fields",
        "reject-wrong-types",
        "reject-content-type",
        "reject-unknown-callback",
        "spec-negative",
        "reply-http-status",
    }
    assert YxcCallbackRole.checks is CHECKS  # a class attribute: the defect-table test reads it without options


def test_text_plain_body_accepted_is_a_warning_not_a_failure(start_vendor) -> None:
    """000 附件二 1 says what the mini-program sends; it does not oblige the vendor to refuse anything else (SHOULD)."""
    vendor = start_vendor("accepts-any-media-type")
    _, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2))
    assert finished.verdict == "passed"
    warned = by_status(results, "warning")
    assert set(warned) == {"reject-content-type"}
    assert warned["reject-content-type"].level == "SHOULD" and "text/plain: accepted" in warned["reject-content-type"].message


def test_replies_without_errorcode_fail_the_presence_check_and_skip_the_value_checks(start_vendor) -> None:
    """A reply check judges only replies carrying what it judges: no errorcode anywhere is no 'all replies passed'."""
    vendor = start_vendor("no-errorcode")
    _, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2))
    assert finished.verdict == "failed"
    assert "missing errorcode" in by_status(results, "failed")["reply-shape"].message
    skipped = by_status(results, "skipped")
    assert "carried an errorcode" in skipped["reply-errorcode-int"].message
    assert "integer errorcode" in skipped["reply-errorcode-table"].message
    assert by_status(results, "passed").keys() <= {c.id for c in CHECKS if c.id.startswith("qr-")} | {"reply-http-status"}


def test_negative_cases_name_the_constraint_they_broke(start_vendor) -> None:
    vendor = start_vendor()
    _, results, _, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=8))
    negative = next(r for r in results if r.check_id == "spec-negative")
    assert negative.status == "passed" and negative.evidence
    for item in negative.evidence:
        broken = item.request["broken"]
        assert broken and {"field", "keyword", "expected", "sent"} <= set(broken[0])
        assert item.note.startswith("broke ") and broken[0]["field"] in item.note
    assert any(item.request.get("schemathesis") for item in negative.evidence)  # Schemathesis's own account, kept


def test_a_negative_case_that_breaks_nothing_is_not_counted(start_vendor, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.yxc import callback_role

    vendor = start_vendor()
    valid = {"code": "C" * 8, "expirationtime": "2030-01-01 00:00:00", "stunum": "S" * 16, "callback": "x"}
    cases = [({"json": valid}, None), ({"json": {**valid, "stunum": "short"}}, "violates `minLength` at /properties/stunum")]
    monkeypatch.setattr(callback_role, "_generated_cases", lambda ctx, mode: cases if mode == "negative" else cases[:1])
    _, results, _, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2))
    negative = next(r for r in results if r.check_id == "spec-negative")
    assert negative.message.startswith("1 generated negative case(s)")
    assert "1 generated case(s) broke no constraint of the request schema and were not counted as negative" in negative.message
    assert negative.evidence[0].request["broken"][0]["field"] == "body.stunum"
    assert negative.evidence[0].request["schemathesis"] == "violates `minLength` at /properties/stunum"  # the generator's words


def test_unreachable_target_ends_the_run_with_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    role = YxcCallbackRole(qr=qr.make_text(f"http://127.0.0.1:{port}/cb", "x"), allow_insecure_http=True)
    _, _, finished, events = run(role)
    assert finished.verdict == "error"
    assert any(isinstance(e, NonFatalError) and "cannot reach" in e.message for e in events)


def test_untrusted_certificate_is_unreachable(start_vendor) -> None:
    vendor = start_vendor(https=True)
    # no --ca-bundle: the self-signed cert is not trusted
    _, _, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True))
    assert finished.verdict == "error"


def test_missing_ca_bundle_is_a_bad_argument(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        YxcCallbackRole(qr="x", ca_bundle=tmp_path / "none.pem")


def test_requirements_name_clauses_and_known_decisions() -> None:
    from harness.decisions import decisions
    from harness.yxc import appjump

    everything = [*REQUIREMENTS, *appjump.REQUIREMENTS]
    ids = [r.id for r in everything]
    assert len(ids) == len(set(ids))
    assert all(r.clause.startswith("000 ") for r in everything)
    known = decisions()
    assert {r.decision for r in everything if r.decision} <= set(known)
    # Every decision the scan-flow code and spec cite is in specs/decisions.yaml, with both treatments.
    root = Path(__file__).resolve().parents[2]
    sources = [root / "specs/yxc/timing-callback.yaml", *(root / "harness/yxc").glob("*.py"), *(root / "examples/yxc_vendor").glob("*.py")]
    cited = {m for f in sources for m in re.findall(r"\bD-[A-Z0-9-]*[A-Z0-9]", f.read_text(encoding="utf-8"))}
    assert cited - set(known) == set()
    assert all(known[d].strict and known[d].tolerant for d in cited)


def test_certify_command_writes_a_verifiable_bundle(start_vendor, tmp_path: Path) -> None:
    """A conforming HTTPS vendor with a self-signed certificate on localhost → a development run: exit 0, a verifiable
    bundle that says why it is not valid for certification, coverage of only what this role observes."""
    vendor = start_vendor(https=True)
    out = tmp_path / "out"
    args = ["--qr", vendor.qr_text(), "--ca-bundle", str(vendor.cert), "--allow-insecure-http", "--max-examples", "5", "--seed", "1"]
    args.append("--quiet")
    ok = CliRunner().invoke(certify_yxc_callback, [*args, "--report", str(out), "--db", str(tmp_path / "h.db")])
    assert ok.exit_code == 0, ok.output
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert document["verdict"] == "passed"
    assert document["certification_valid"] is False
    assert any("localhost is a local name" in w for w in document["warnings"])
    coverage = {row["id"]: row["coverage"] for row in document["coverage"]}
    assert (
        coverage["YXC-QR-REDIRECT-NOQUERY"] == coverage["YXC-CB-REJECT-UNKNOWN-CALLBACK"] == coverage["YXC-CB-REJECT-MALFORMED"] == "passed"
    )
    # Coverage counts what this role observes: no timing-platform (附件四) or APP-jump requirement is "not covered" here.
    assert all(rid.startswith(("YXC-QR-", "YXC-REG-", "YXC-CB-")) for rid in coverage), sorted(coverage)
    uncovered = {rid for rid, state in coverage.items() if state == "not covered"}
    assert uncovered == {"YXC-QR-SYMBOLOGY", "YXC-QR-PIXELS", "YXC-QR-REDIRECT-DOMAIN"}  # text QR; domain waived
    assert CliRunner().invoke(main, ["report", "verify", str(out)]).exit_code == 0
    broken = start_vendor("accepts-malformed")
    bad = CliRunner().invoke(
        main,
        [
            "certify",
            "yxc-callback",
            "--qr",
            broken.qr_text(),
            "--allow-insecure-http",
            "--max-examples",
            "5",
            "--quiet",
            "--report",
            str(tmp_path / "bad"),
            "--db",
            str(tmp_path / "h.db"),
        ],
    )
    assert bad.exit_code == 1, bad.output
    failed = [c for c in json.loads((tmp_path / "bad" / "report.json").read_text(encoding="utf-8"))["checks"] if c["status"] == "failed"]
    assert any(c["id"] == "reject-malformed-json" and "000 附件二 返回码 200" in c["clause"] for c in failed), failed


def test_catalogue_lists_the_checks_that_enforce_each_rule() -> None:
    from harness.conformance import catalogue

    declared = {r.id: set(r.checks) for r in catalogue.load("yxc")}
    enforcing: dict[str, set[str]] = {}
    for check in CHECKS:
        for rid in check.requirements:
            enforcing.setdefault(rid, set()).add(check.id)
    for rid, checks in enforcing.items():
        if rid in declared:
            assert declared[rid] == checks, rid


def test_refusal_codes_follow_the_profile() -> None:
    """A vendor that refuses malformed bodies with 1 instead of 200: a WARNING naming D-YXC-CALLBACK-ERRORCODES under
    either profile (the seed lists the codes, not which answers which refusal); the run does not fail for it."""
    import threading

    from werkzeug.serving import make_server

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(size)
        try:
            body = json.loads(raw.decode("utf-8"))
            ok = environ.get("CONTENT_TYPE", "").startswith("application/json") and body.get("callback") == "ok"
            ok = ok and all(isinstance(body.get(k), str) for k in ("code", "expirationtime", "stunum"))
        except (ValueError, AttributeError):
            ok = False
        reply = json.dumps({"errorcode": 0 if ok else 1, "message": "", "data": None}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(reply)))])
        return [reply]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        text = qr.make_text(f"http://127.0.0.1:{server.server_port}/cb", "ok")
        for profile in ("strict", "tolerant"):
            _, results, verdict, _ = run(YxcCallbackRole(qr=text, allow_insecure_http=True, max_examples=5, profile=profile))
            assert verdict.verdict == "passed", profile
            warned = by_status(results, "warning")
            assert "expected 200" in warned["reject-malformed-json"].message
            assert warned["reject-malformed-json"].decision == "D-YXC-CALLBACK-ERRORCODES"
            assert "reject-unknown-callback" not in warned  # 1 is right for an unknown callback
    finally:
        server.shutdown()
        server.server_close()


def test_qr_form_only_the_tolerant_reading_accepts_is_a_warning(start_vendor) -> None:
    """QR parameters in another order than the seed shows: a WARNING naming D-YXC-QR-URL-SHAPE under either profile."""
    from urllib.parse import quote

    vendor = start_vendor()
    good = qr.check_text(vendor.qr_text())
    reordered = (
        f"{qr.QR_BASE}?timestamp={good.timestamp}&redirect_uri={quote(good.redirect_uri, safe='')}&callback={quote(good.callback, safe='')}"
    )
    for profile in ("strict", "tolerant"):
        _, results, finished, _ = run(YxcCallbackRole(qr=reordered, allow_insecure_http=True, max_examples=2, profile=profile))
        assert finished.verdict == "passed", profile
        url = by_status(results, "warning")["qr-url"]
        assert url.decision == "D-YXC-QR-URL-SHAPE" and "must be in the order" in url.message


class OneShotQr:
    """A vendor whose QR is accepted once (WSGI middleware over the reference vendor): a second scan with a callback
    that was already used is answered errorcode 1, as a terminal showing a fresh QR for sign-out would."""

    def __init__(self, app: Any) -> None:
        self.app, self.used = app, set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        import io

        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            callback = json.loads(raw).get("callback")
        except (ValueError, AttributeError):
            callback = None
        if environ.get("REQUEST_METHOD") == "POST" and isinstance(callback, str):
            if callback in self.used:
                start_response("200 OK", [("Content-Type", "application/json")])
                return [json.dumps({"errorcode": 1, "message": "this QR was already scanned", "data": None}).encode()]
            body = b"".join(self.app(environ, start_response))
            if b'"errorcode":0' in body.replace(b" ", b""):
                self.used.add(callback)
            return [body]
        return self.app(environ, start_response)


def test_one_shot_qr_without_logout_qr_is_a_warning_naming_the_signout_decision(start_vendor) -> None:
    """000 2.1.2 1) shows a QR at sign-in and at sign-out and never says the sign-in QR is reused: a vendor whose QR is
    accepted once followed the seed. Without --logout-qr the refused reuse is a WARNING naming D-YXC-CALLBACK-SIGNOUT
    that says to pass --logout-qr; with it, the sign-out is judged on the sign-out QR (and passes here)."""
    vendor = start_vendor()
    vendor.server.app = OneShotQr(vendor.server.app)
    _, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2))
    assert finished.verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status == "failed"]
    signout = by_status(results, "warning")["accept-signout"]
    assert signout.level == "MUST" and signout.decision == "D-YXC-CALLBACK-SIGNOUT"
    assert "--logout-qr" in signout.message and "errorcode 1" in signout.message and "000 2.1.2 1)" in signout.clause
    _, results, finished, _ = run(
        YxcCallbackRole(qr=vendor.qr_text(), logout_qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2)
    )
    assert by_status(results, "passed")["accept-signout"].message == "valid sign-out accepted (errorcode 0)"


def test_refused_signout_with_the_logout_qr_fails(start_vendor) -> None:
    vendor = start_vendor("refuses-scans")
    _, results, finished, _ = run(
        YxcCallbackRole(qr=vendor.qr_text(), logout_qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2)
    )
    assert finished.verdict == "failed"
    assert "sign-out QR's (--logout-qr) callback was refused: errorcode 1" in by_status(results, "failed")["accept-signout"].message


def test_every_warning_names_a_decision(start_vendor) -> None:
    """docs/certify.md: a WARNING names its decision (report.json `decision`), whatever the check's level."""
    for defect in ("http-500", "accepts-malformed", "ignores-callback", "accepts-any-media-type"):
        vendor = start_vendor(defect)
        _, results, _, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=3))
        warned = [r for r in results if r.status == "warning"]
        assert warned, defect
        assert all(r.decision and r.decision.startswith("D-") for r in warned), [(r.check_id, r.message) for r in warned]
    assert by_status(results, "warning")["reject-content-type"].decision == "D-YXC-CALLBACK-RECEIVER-CHECKS"


def test_http_status_warning_names_d_http_status(start_vendor) -> None:
    vendor = start_vendor("http-500")
    _, results, _, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2))
    assert by_status(results, "warning")["reply-http-status"].decision == "D-HTTP-STATUS"


def test_a_refusal_code_outside_the_table_is_not_the_errorcodes_decision(start_vendor) -> None:
    """D-YXC-CALLBACK-ERRORCODES tolerates another code *of the table*; 400 is none (返回码定义): the MUST refusal
    check fails citing the table, the SHOULD ones count the refusal and leave the code to reply-errorcode-table."""
    vendor = start_vendor("errorcode-not-in-table")
    _, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2))
    assert finished.verdict == "failed"
    malformed = by_status(results, "failed")["reject-malformed-json"]
    assert "000 附件二 返回码定义" in malformed.clause and "no code of the table" in malformed.message and malformed.decision is None
    assert not [r for r in results if r.decision == "D-YXC-CALLBACK-ERRORCODES"]
    for check_id in ("reject-missing-fields", "reject-wrong-types", "reject-content-type"):
        assert "reply-errorcode-table judges it" in by_status(results, "passed")[check_id].message
    assert "reply-errorcode-table" in by_status(results, "failed")


def test_a_body_that_is_not_json_is_described_by_what_was_sent() -> None:
    from harness.yxc.callback_role import _short

    assert _short(b"") == "an empty body (0 bytes)"
    assert _short(b" ") == '1 bytes of UTF-8 text that is not JSON: " "'
    assert _short(b"\x00") == '1 bytes of UTF-8 text that is not JSON: "\\u0000"'
    assert _short(b"\xd4\xc1{") == "3 bytes that are not UTF-8, starting d4 c1 7b"


def test_an_object_callback_answered_as_an_unknown_callback_is_no_warning(start_vendor) -> None:
    """附件二 1's table types callback as object (D-YXC-CALLBACK-TYPE): a vendor that reads the object as a callback it
    never issued and answers 1 (执行失败) follows the seed's own form, so reject-wrong-types passes without the
    D-YXC-CALLBACK-ERRORCODES warning that expecting 200 gave every such vendor."""
    vendor = start_vendor()
    inner = vendor.server.app

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/yxc/callback" and environ.get("REQUEST_METHOD") == "POST":
            import io

            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("callback"), dict):
                reply = json.dumps({"errorcode": 1, "message": "unknown callback", "data": None}).encode()
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(reply)))])
                return [reply]
            environ["wsgi.input"] = io.BytesIO(raw)
        return inner(environ, start_response)

    vendor.server.app = app
    _, results, _, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=2))
    wrong_types = [r for r in results if r.check_id == "reject-wrong-types"]
    assert [r.status for r in wrong_types] == ["passed"], [(r.status, r.message) for r in wrong_types]
