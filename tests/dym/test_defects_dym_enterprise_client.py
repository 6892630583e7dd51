"""The dym-enterprise-client defect table (examples/defects/dym-enterprise-client.yaml): the conforming TMS of
harness/dym/simulators.py passes, graded from one certification session; each planted defect makes exactly the checks
its row lists FAILED (MUST) or WARNING (SHOULD verdicts and SHOULD checks), naming their clause."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.conformance import sessions
from harness.conformance.model import CheckFinished, CheckResult, RunFinished
from harness.conformance.roles import CommonOptions, role_class
from harness.dym.certify import EnterpriseClientRole
from harness.dym.simulators import DEFECTS
from harness.errors import ConfigError
from tests.dym.conftest import World
from tests.dym.enterprise_sim import session

ROOT = Path(__file__).resolve().parents[2]
TABLE = yaml.safe_load((ROOT / "examples" / "defects" / "dym-enterprise-client.yaml").read_text(encoding="utf-8"))
ROWS = TABLE["defects"]


def _grade(world: World, window: sessions.Window | None = None) -> tuple[str, list[CheckResult]]:
    events = list(EnterpriseClientRole(world.store, world.enterprise.app.app_id, window=window).run(seed=1))
    assert isinstance(events[-1], RunFinished)
    return events[-1].verdict, [e.result for e in events if isinstance(e, CheckFinished)]


def test_the_conforming_tms_passes_graded_from_one_certification_session(world: World) -> None:
    session(world, seed=1)  # earlier traffic of the same app, outside the session: not graded
    world.enterprise.call("waybill_status", {"waybill_no": "WB-NEVER-PUSHED"})  # a 4001 before the session
    cert = sessions.start(world.store, TABLE["role"], {"app_id": world.enterprise.app.app_id})
    report = session(world, seed=2, base=f"/_session/{cert.id}/dym", claim=False)
    assert all(": 0" in line for line in report["log"]), report["log"]
    finished = sessions.finish(world.store, cert.id)
    verdict, results = _grade(world, finished.window)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status != "passed"]
    assert not [r for r in results if r.status in ("failed", "warning", "error")]
    graded = {r.check_id for r in results if r.status == "passed"}
    checks = role_class(TABLE["role"]).checks
    assert graded == {c.id for c in checks if c.level in ("MUST", "SHOULD")}, "the conforming session exercises every check"
    # The same app's earlier 4001 is in the journal, outside the window: graded without the window, it fails.
    assert _grade(world)[0] == "failed"


def test_an_app_with_no_traffic_fails_and_an_unknown_app_is_refused(world: World, tmp_path: Path) -> None:
    verdict, results = _grade(world)
    assert verdict == "failed" and [r.status for r in results if r.check_id == "DYM-EC-SIGNED"] == ["failed"]
    assert {r.status for r in results if r.check_id != "DYM-EC-SIGNED"} == {"skipped"}
    cls = role_class(TABLE["role"])
    with pytest.raises(ConfigError, match="no DYM app"):
        cls(CommonOptions(tmp_path, 1, world.db, "tolerant"), app_id="NOSUCHAPP0000001")


def test_findings_show_no_personal_data_or_secret_in_clear(world: World) -> None:
    report = session(world, "verify-without-consent", "wide-consent", "lookup-all-keys", "bad-sign")
    events = list(EnterpriseClientRole(world.store, world.enterprise.app.app_id).run(seed=1))
    findings = [e.result for e in events if isinstance(e, CheckFinished) and e.result.status in ("failed", "warning")]
    assert {r.check_id for r in findings} == {"DYM-EC-CONSENT", "DYM-EC-MINIMAL", "DYM-EC-SIGNED"}
    text = json.dumps([dataclasses.asdict(r) for r in findings], ensure_ascii=False, default=str)
    assert "journal #" in text and "request" in text  # the evidence is there
    for person in report["people"]:
        for value in person.values():
            assert value not in text, value
    assert world.enterprise.app.secret not in text


def test_every_must_and_should_check_has_a_defect_and_every_row_a_planted_flag() -> None:
    checks = role_class(TABLE["role"]).checks
    listed = {check for row in ROWS for check in [*row.get("fails", ()), *row.get("warns", ())]}
    assert {c.id for c in checks if c.level in ("MUST", "SHOULD")} <= listed
    assert {row["name"] for row in ROWS} == set(DEFECTS)


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_each_defect_fails_its_checks_naming_the_clause(world: World, row: dict[str, Any]) -> None:
    session(world, row["name"])
    verdict, results = _grade(world)
    checks = role_class(TABLE["role"]).checks
    wanted: dict[str, str] = {c: ("failed" if checks.get(c).level == "MUST" else "warning") for c in row.get("fails", ())}
    wanted |= {c: "warning" for c in row.get("warns", ())}
    for check_id, status in wanted.items():
        mine = [r for r in results if r.check_id == check_id]
        assert any(r.status == status for r in mine), (check_id, [(r.status, r.message) for r in mine])
        # the seed passage the decision rests on comes first, then the decision (seed 004 names no rule of its own)
        assert all(r.clause and r.clause.startswith("004") for r in mine if r.status == status), [r.clause for r in mine]
    others = [(r.check_id, r.status) for r in results if r.status in ("failed", "warning") and r.check_id not in wanted]
    assert not others, f"{row['name']} also broke {others}"
    if "says" in row:
        assert any(row["says"] in r.message for r in results if r.check_id in wanted), [r.message for r in results]
    for r in results:
        assert r.clause.startswith("004"), (r.check_id, r.clause)
        if r.status == "warning":  # a warning names the decision it rests on
            assert r.decision, (r.check_id, r.message)
    assert verdict == ("failed" if "failed" in wanted.values() else "passed")


def test_what_the_person_presented_wrong_is_for_review_not_a_failure_of_the_tms(world: World) -> None:
    """A capacity code typed wrong (3005) and a QR that is no driver code (3004): the platform's check worked, the TMS
    did nothing the seed forbids; the run passes and DYM-EC-OUTCOMES shows them to a person (004 §二(二)2(1), 1(1))."""
    report = session(world)
    person = report["people"][0]
    typo = world.enterprise.call("driver_lookup", {"mobile": person["mobile"], "capacity_code": "000000"})
    stray = world.enterprise.call("scan_verify", {"qr_content": "https://u.wechat.com/not-a-driver-code", "fields": ["qualification"]})
    assert typo["code"] == "3005" and stray["code"] != "0", (typo, stray)
    verdict, results = _grade(world)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status in ("failed", "warning")]
    review = [r for r in results if r.check_id == "DYM-EC-OUTCOMES"]
    assert [r.status for r in review] == ["review"] and "3005" in review[0].message, review


def test_a_session_without_a_verification_fails_naming_the_interface(world: World) -> None:
    world.enterprise.call("code_status", {"driver_code": "DYMD0000000000000000"})
    verdict, results = _grade(world)
    mine = [r for r in results if r.check_id == "DYM-EC-VERIFIES"]
    assert verdict == "failed" and mine[0].status == "failed" and "004" in mine[0].clause, mine


def test_a_retry_under_the_nonce_of_a_refused_call_is_a_warning_not_a_failure(world: World) -> None:
    """D-DYM-NONCE: a refused request does not consume its nonce. A lookup refused 3005 (the capacity code typed
    wrong) retried with the right code under the same nonce is accepted by the platform: DYM-EC-SIGNED warns (advice:
    a fresh nonce per attempt), naming the decision, and does not fail the run; a nonce reused after an accepted call
    still fails."""
    from harness.dym import signing

    person = {"id_no": "532301199010240315", "name": "龚晓平", "mobile": "13577379491", "plate": "云L69568"}
    claim = world.enterprise.call("driver_claim", person)
    assert claim["code"] == "0", claim
    token = claim["data"]["driver_token"]
    app, now = world.enterprise.app, world.enterprise.clock()

    def lookup(code: str, nonce: str) -> dict[str, Any]:
        body = signing.signed({"plate": person["plate"], "capacity_code": code}, app.app_id, app.secret, now=now, nonce=nonce)
        return world.enterprise.client.raw("POST", "/dym/driver/lookup", json=body).json()

    right = signing.capacity_code(signing.token_hash(token), now)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert lookup(wrong, "retry-nonce-000000001")["code"] == "3005"
    assert lookup(right, "retry-nonce-000000001")["code"] == "0"
    verdict, results = _grade(world)
    signed = [r for r in results if r.check_id == "DYM-EC-SIGNED"]
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status in ("failed", "warning")]
    assert [r.status for r in signed] == ["warning"] and signed[0].decision == "D-DYM-NONCE", signed
    assert lookup(right, "retry-nonce-000000001")["code"] == "2004"  # reused after an accepted call: the platform refuses
    verdict, results = _grade(world)
    assert verdict == "failed" and "failed" in [r.status for r in results if r.check_id == "DYM-EC-SIGNED"]
