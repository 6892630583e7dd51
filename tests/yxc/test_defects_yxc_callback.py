"""Defect table examples/defects/yxc-callback.yaml: the reference vendor (examples/yxc_vendor/app.py) passes with no
FAILED; each planted defect makes its listed checks FAILED (MUST) or WARNING (SHOULD), naming their clause.

The vendor runs on https://localhost with a self-signed certificate: a development run (--allow-insecure-http waives
the public-domain rule), except for the two address defects, which are graded without the opt-out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from examples.yxc_vendor.app import DEFECTS
from harness.conformance.model import CheckFinished, CheckResult, RunFinished, RunStarted
from harness.conformance.roles import role_class

ROOT = Path(__file__).resolve().parents[2]
TABLE = yaml.safe_load((ROOT / "examples/defects/yxc-callback.yaml").read_text(encoding="utf-8"))
IMAGE = {"qr-datamatrix", "qr-small"}  # rules of the image: the role is given the PNG the terminal shows
STRICT_ADDRESS = {"qr-http-redirect", "qr-ip-redirect"}  # rules the development opt-out would waive
LOGOUT_QR = {"refuses-scans"}  # graded with --logout-qr: without it a refused sign-out is a WARNING (D-YXC-CALLBACK-SIGNOUT)
MAX_EXAMPLES = 5


def certify(
    vendor: Any, tmp_path: Path, *, image: bool = False, insecure: bool = True, logout_qr: bool = False
) -> tuple[RunStarted, list[CheckResult], RunFinished]:
    source = vendor.qr_text()
    if image:
        path = tmp_path / "qr.png"
        path.write_bytes(vendor.qr_png())
        source = str(path)
    role = role_class("yxc-callback")(
        qr=source,
        logout_qr=vendor.qr_text() if logout_qr else None,
        ca_bundle=vendor.cert,
        allow_insecure_http=insecure,
        max_examples=MAX_EXAMPLES,
    )
    events = list(role.run(7))
    return events[0], [e.result for e in events if isinstance(e, CheckFinished)], events[-1]


def test_table_names_every_must_and_should_check() -> None:
    checks = role_class(TABLE["role"]).checks
    named = {c for row in TABLE["defects"] for c in row["fails"]}
    assert {c.id for c in checks if c.level in ("MUST", "SHOULD")} <= named
    assert named <= {c.id for c in checks}
    assert {row["name"] for row in TABLE["defects"]} == set(DEFECTS)  # every defect the vendor can plant is a row
    assert (ROOT / TABLE["vendor"]).is_file() and TABLE["test"] == "tests/yxc/test_defects_yxc_callback.py"


def test_the_conforming_reference_vendor_passes(start_vendor, tmp_path: Path) -> None:
    vendor = start_vendor(https=True)
    started, results, finished = certify(vendor, tmp_path, image=True)
    assert finished.verdict == "passed"
    assert not [r for r in results if r.status in ("failed", "error", "warning")], [(r.check_id, r.status, r.message) for r in results]
    assert {r.check_id for r in results if r.status == "skipped"} == {"qr-redirect-domain"}  # waived: localhost
    assert started.certification_valid is False  # a development run: self-signed, localhost


@pytest.mark.parametrize("row", TABLE["defects"], ids=[row["name"] for row in TABLE["defects"]])
def test_planted_defect_fails_its_checks(start_vendor, tmp_path: Path, row: dict[str, Any]) -> None:
    name = row["name"]
    vendor = start_vendor(name, https=True)
    _, results, finished = certify(vendor, tmp_path, image=name in IMAGE, insecure=name not in STRICT_ADDRESS, logout_qr=name in LOGOUT_QR)
    checks = role_class(TABLE["role"]).checks
    by_id: dict[str, list[CheckResult]] = {}
    for result in results:
        by_id.setdefault(result.check_id, []).append(result)
    for check_id in row["fails"]:
        check = checks.get(check_id)
        expected = "failed" if check.level == "MUST" else "warning"
        hit = [r for r in by_id[check_id] if r.status == expected]
        assert hit, (check_id, [(r.status, r.message) for r in by_id[check_id]])
        assert check.clause.split(";")[0] in hit[0].clause, (check_id, hit[0].clause)
        if not check_id.startswith("qr-"):
            assert hit[0].evidence and hit[0].evidence[0].reply is not None  # the vendor's reply is the evidence
    must = any(checks.get(c).level == "MUST" for c in row["fails"])
    assert finished.verdict == ("failed" if must else "passed")


def test_refusals_answered_with_a_string_errorcode_are_refusals_not_accepted_bad_cases(start_vendor, tmp_path: Path) -> None:
    """errorcode "200" (a string) refuses the generated negative cases: the reply's type is reply-errorcode-int's
    failure, never counted by spec-negative as accepting bad cases nor named D-YXC-CALLBACK-RECEIVER-CHECKS."""
    vendor = start_vendor("errorcode-as-string", https=True)
    _, results, _ = certify(vendor, tmp_path)
    negative = [r for r in results if r.check_id == "spec-negative"]
    assert negative and all(r.status in ("passed", "skipped") for r in negative), [(r.status, r.message) for r in negative]
    assert any(r.check_id == "reply-errorcode-int" and r.status == "failed" for r in results)
