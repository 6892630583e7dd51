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

from examples.yxc_vendor.app import DEFECTS
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


def test_conforming_vendor_over_https_passes(start_vendor) -> None:
    vendor = start_vendor(https=True)
    started, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), ca_bundle=vendor.cert))
    assert finished.verdict == "passed", [(r.check_id, r.message) for r in results if r.status != "passed"]
    assert started.certification_valid is True
    assert started.target == vendor.callback_url
    assert started.spec_hashes.keys() == {"specs/yxc/timing-callback.yaml", "specs/yxc/requirements.yaml", "specs/decisions.yaml"}
    assert {r.id for r in started.requirements} >= {req for c in CHECKS for req in c.requirements}  # every check traces to a rule
    # Text input: only the image checks are skipped; everything else ran and passed.
    assert set(by_status(results, "skipped")) == {"qr-symbology", "qr-pixels"}
    assert by_status(results, "passed")["spec-negative"].message.startswith("30 generated negative")
    for result in results:
        assert result.clause.startswith(("000 ", "D-")), result


def test_qr_image_and_logout_qr(start_vendor, tmp_path: Path) -> None:
    vendor = start_vendor(https=True)
    image = tmp_path / "qr.png"
    image.write_bytes(vendor.qr_png())
    role = YxcCallbackRole(qr=str(image), logout_qr=vendor.qr_text(), ca_bundle=vendor.cert, max_examples=5)
    _, results, finished, _ = run(role)
    assert finished.verdict == "passed"
    assert {"qr-symbology", "qr-pixels", "accept-signout"} <= set(by_status(results, "passed"))


def test_insecure_opt_out_is_not_valid_for_certification(start_vendor) -> None:
    vendor = start_vendor()
    started, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=5))
    assert finished.verdict == "passed"
    assert started.certification_valid is False
    skipped = by_status(results, "skipped")
    assert "not valid for certification" in skipped["qr-redirect-https"].message
    assert "qr-redirect-domain" in skipped


def test_plain_http_without_opt_out_fails_and_sends_nothing(start_vendor) -> None:
    vendor = start_vendor()
    _, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), max_examples=5))
    assert finished.verdict == "failed"
    failed = by_status(results, "failed")
    assert set(failed) == {"qr-redirect-https", "qr-redirect-domain"}
    assert "000 2.1.1" in failed["qr-redirect-domain"].clause
    assert "accept-signin" in by_status(results, "skipped")
    assert vendor.vendor.scans == []


# Each planted defect is caught by the check enforcing that rule, and the check names the clause.
EXPECTED = {
    "errorcode-as-string": ("reply-errorcode-int", "000 附件二 2 (errorcode 类型 int)"),
    "ignores-callback": ("reject-unknown-callback", "000 附件一 3 callback"),
    "accepts-malformed": ("reject-malformed-json", "000 附件二 返回码 200"),
    "wrong-shape": ("reply-shape", "000 附件二 2 (通用应答)"),
    "http-500": ("reply-http-status", "D-HTTP-STATUS"),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_planted_defect_is_caught(start_vendor, defect: str) -> None:
    vendor = start_vendor(defect)
    _, results, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text(), allow_insecure_http=True, max_examples=8))
    assert finished.verdict == "failed"
    check_id, clause = EXPECTED[defect]
    failed = by_status(results, "failed")
    assert check_id in failed, sorted(failed)
    assert clause in failed[check_id].clause
    assert failed[check_id].evidence and failed[check_id].evidence[0].reply is not None  # the reply is the evidence
    assert not {c for c in failed if c.startswith("qr-")}  # the QR itself was fine


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
    _, _, finished, _ = run(YxcCallbackRole(qr=vendor.qr_text()))  # no --ca-bundle: the self-signed cert is not trusted
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
    """The issue's "done when": a conforming HTTPS vendor with a self-signed certificate → exit 0 and a verifiable bundle."""
    vendor = start_vendor(https=True)
    out = tmp_path / "out"
    args = ["--qr", vendor.qr_text(), "--ca-bundle", str(vendor.cert), "--max-examples", "5", "--seed", "1", "--quiet"]
    ok = CliRunner().invoke(certify_yxc_callback, [*args, "--report", str(out), "--db", str(tmp_path / "h.db")])
    assert ok.exit_code == 0, ok.output
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert document["verdict"] == "passed"
    coverage = {row["id"]: row["coverage"] for row in document["coverage"]}
    assert (
        coverage["YXC-QR-REDIRECT-NOQUERY"] == coverage["YXC-CB-REJECT-UNKNOWN-CALLBACK"] == coverage["YXC-CB-REJECT-MALFORMED"] == "passed"
    )
    assert "YXC-FLOW-CLASSRECORD" not in coverage  # another role's requirement: this role cannot observe it
    assert CliRunner().invoke(main, ["report", "verify", str(out)]).exit_code == 0
    broken = start_vendor("ignores-callback")
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
    assert any(c["id"] == "reject-unknown-callback" and "000 附件一 3 callback" in c["clause"] for c in failed), failed


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
    """A vendor that refuses malformed bodies with 1 instead of 200: strict fails it, tolerant accepts (D-YXC-CALLBACK-ERRORCODES)."""
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
        _, strict, verdict, _ = run(YxcCallbackRole(qr=text, allow_insecure_http=True, max_examples=5))
        assert verdict.verdict == "failed"
        failed = by_status(strict, "failed")
        assert "expected 200" in failed["reject-malformed-json"].message
        assert "reject-unknown-callback" not in failed  # 1 is right for an unknown callback
        _, _, tolerant, _ = run(YxcCallbackRole(qr=text, allow_insecure_http=True, max_examples=5, profile="tolerant"))
        assert tolerant.verdict == "passed"
    finally:
        server.shutdown()
        server.server_close()
