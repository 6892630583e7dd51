"""The DYM slice end to end, in process: codes claimed with valid check digits, a driver turning yellow after a
violation and red after its deadline (the clock injected), scan-to-verify only under consent, a waybill accepted by
scanning its QR, its ledger receipt verified offline by `harness ledger verify`, and an edited ledger record named by
`harness ledger audit`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from harness.cli import main
from harness.dym import signing
from tests.dym.conftest import DRIVER_A, DRIVER_B, World

DAY = 86400


def _claim(world: World, driver: dict[str, str]) -> dict[str, Any]:
    reply = world.enterprise.call("driver_claim", driver)
    assert reply["code"] == "0", reply
    return reply["data"]


def _events(world: World, code: str) -> list[dict[str, Any]]:
    rows = world.store.query(
        "SELECT e.entry FROM dym_chain c JOIN ledger_entries e ON e.idx = c.idx WHERE c.subject = ? ORDER BY c.idx", (code,)
    )
    return [json.loads(r["entry"])["event"] for r in rows]


def test_the_done_when_flow(world: World, tmp_path: Path) -> None:
    a, b = _claim(world, DRIVER_A), _claim(world, DRIVER_B)
    assert a["qr_content"] == "DYM1:D:" + a["driver_code"] and a["status"] == "blue"

    # A violation turns A yellow; past its deadline A is red; B stays blue.
    deadline = int(world.clock()) + 3 * DAY
    report = {"driver_code": a["driver_code"], "kind": "violation", "description": "超限运输", "deadline": deadline}
    refused = world.enterprise.call("violation_report", report)
    assert refused["code"] == "2005"  # only the regulator reports issues (D-DYM-ISSUES)
    reported = world.regulator.call("violation_report", report)
    assert reported["code"] == "0" and reported["data"]["status"] == "yellow", reported
    assert world.enterprise.call("code_status", {"driver_code": a["driver_code"]})["data"]["status"] == "yellow"
    world.clock.advance(3 * DAY + 1)
    red = world.enterprise.call("code_status", {"driver_code": a["driver_code"]})["data"]
    assert red["status"] == "red" and red["issues"][0]["overdue"] is True
    assert world.enterprise.call("code_status", {"driver_code": b["driver_code"]})["data"]["status"] == "blue"
    changes = [(e["from"], e["to"]) for e in _events(world, a["driver_code"]) if e["type"] == "code.status"]
    assert changes == [("blue", "yellow"), ("yellow", "red")]  # each change on chain once, though observed twice
    red_event = [e for e in _events(world, a["driver_code"]) if e.get("to") == "red"][0]
    assert red_event["effective_at"].startswith("2026-12-04T09:00:00")  # when the deadline passed, not when observed

    # Scan-to-verify: refused without consent, answered within the consent's scope, refused again once revoked.
    scan = {"qr_content": a["qr_content"], "fields": ["qualification", "id_card", "bank_account"]}
    no_consent = world.enterprise.call("scan_verify", scan)
    assert no_consent["code"] == "3003" and "data" not in no_consent
    grant = {"driver_code": a["driver_code"], "driver_token": a["driver_token"], "grantee": world.enterprise.app.app_id}
    grant |= {"scope": ["qualification", "id_card", "bank_account", "insurance_policy"], "ttl_seconds": 3600}
    assert world.carrier.call("consent_grant", {**grant, "driver_token": b["driver_token"]})["code"] == "2006"  # not A's token
    consent = world.carrier.call("consent_grant", grant)["data"]
    verified = world.enterprise.call("scan_verify", scan)
    assert verified["code"] == "0", verified
    data = verified["data"]
    assert set(data["certificates"]) == {"qualification", "id_card", "bank_account"} and data["status"] == "red"
    assert data["certificates"]["id_card"]["id_no"] == DRIVER_A["id_no"] and data["consent_ids"] == [consent["consent_id"]]
    assert world.enterprise.call("scan_verify", {**scan, "fields": ["driving_licence"]})["code"] == "3003"  # outside the scope
    assert world.carrier.call("scan_verify", scan)["code"] == "3003"  # consented to another app
    revoke = {"driver_code": a["driver_code"], "driver_token": a["driver_token"], "consent_id": consent["consent_id"]}
    assert world.carrier.call("consent_revoke", revoke)["code"] == "0"
    assert world.enterprise.call("scan_verify", scan)["code"] == "3003"
    assert world.carrier.call("consent_revoke", revoke)["code"] == "3007"

    # A waybill pushed for B is accepted by scanning its QR; A cannot take it; it cannot be accepted twice.
    push = {"waybill_no": "WB-20261204-001", "kind": "exclusive", "driver_code": b["driver_code"]}
    push |= {"origin": "昆明市官渡区", "destination": "红河州蒙自市", "goods": "水泥", "weight_kg": 31000}
    pushed = world.enterprise.call("waybill_push", push)
    assert pushed["code"] == "0" and pushed["data"]["status"] == "pushed", pushed
    qr = pushed["data"]["qr_content"]
    assert world.enterprise.call("waybill_push", push)["code"] == "4002"
    take = {"driver_code": a["driver_code"], "driver_token": a["driver_token"], "qr_content": qr}
    assert world.carrier.call("waybill_accept", take)["code"] == "4005"
    forged = qr[:-4] + ("AAAA" if not qr.endswith("AAAA") else "BBBB")
    accept = {"driver_code": b["driver_code"], "driver_token": b["driver_token"], "qr_content": forged}
    assert world.carrier.call("waybill_accept", accept)["code"] == "4003"
    accepted = world.carrier.call("waybill_accept", {**accept, "qr_content": qr})
    assert accepted["code"] == "0" and accepted["data"]["status"] == "accepted", accepted
    assert world.carrier.call("waybill_accept", {**accept, "qr_content": qr})["code"] == "4004"
    status = world.enterprise.call("waybill_status", {"waybill_no": push["waybill_no"]})["data"]
    assert status["status"] == "accepted" and status["driver_code"] == b["driver_code"]
    assert [e["event"] for e in status["chain"]] == ["waybill.pushed", "waybill.accepted"]

    # The acceptance's receipt verifies offline with nothing but the log's key; an edited record fails the audit.
    runner = CliRunner()
    key = runner.invoke(main, ["ledger", "key", "--db", str(world.db)])
    assert key.exit_code == 0, key.output
    last = status["chain"][-1]
    (tmp_path / "receipt.json").write_text(json.dumps(last["receipt"]), encoding="utf-8")
    (tmp_path / "entry.json").write_text(last["entry"], encoding="utf-8")
    verify = ["ledger", "verify", str(tmp_path / "receipt.json"), "--entry", str(tmp_path / "entry.json"), "--key", key.output.strip()]
    result = runner.invoke(main, verify)
    assert result.exit_code == 0 and result.output.startswith("verified: "), result.output
    assert json.loads(last["entry"])["event"]["driver_code"] == b["driver_code"]
    audit = runner.invoke(main, ["ledger", "audit", "--db", str(world.db)])
    assert audit.exit_code == 0 and "audit passed" in audit.output, audit.output

    index = last["receipt"]["index"]
    edited = last["entry"].replace(b["driver_code"], a["driver_code"]).encode()
    world.store.execute("UPDATE ledger_entries SET entry = ? WHERE idx = ?", (edited, index))
    audit = runner.invoke(main, ["ledger", "audit", "--db", str(world.db)])
    assert audit.exit_code == 1 and f"record {index} altered" in audit.output, audit.output
    (tmp_path / "entry.json").write_bytes(edited)
    refused = runner.invoke(main, verify)
    assert refused.exit_code == 1 and "does not hash to the receipt's leaf hash" in refused.output


def test_handling_the_issue_turns_the_code_blue_again(world: World) -> None:
    a = _claim(world, DRIVER_A)
    report = {
        "driver_code": a["driver_code"],
        "kind": "safety_study",
        "description": "未按时参加安全学习",
        "deadline": int(world.clock()) + 60,
    }
    issue = world.regulator.call("violation_report", report)["data"]["issue_id"]
    world.clock.advance(120)
    assert world.enterprise.call("code_status", {"driver_code": a["driver_code"]})["data"]["status"] == "red"
    handled = world.regulator.call("violation_handle", {"issue_id": issue})
    assert handled["code"] == "0" and handled["data"]["status"] == "blue"
    assert world.regulator.call("violation_handle", {"issue_id": issue})["code"] == "3006"
    assert [e["to"] for e in _events(world, a["driver_code"]) if e["type"] == "code.status"] == ["yellow", "red", "blue"]


def test_consent_expires(world: World) -> None:
    a = _claim(world, DRIVER_A)
    grant = {"driver_code": a["driver_code"], "driver_token": a["driver_token"], "grantee": world.enterprise.app.app_id}
    world.carrier.call("consent_grant", {**grant, "scope": ["id_card"], "ttl_seconds": 60})
    scan = {"qr_content": a["qr_content"], "fields": ["id_card"]}
    assert world.enterprise.call("scan_verify", scan)["code"] == "0"
    world.clock.advance(61)
    assert world.enterprise.call("scan_verify", scan)["code"] == "3003"


def test_public_waybill_goes_to_the_first_driver_and_qr_expires(world: World) -> None:
    a, b = _claim(world, DRIVER_A), _claim(world, DRIVER_B)
    push = {"waybill_no": "WB-PUBLIC-01", "kind": "public", "origin": "曲靖", "destination": "昆明", "goods": "煤", "weight_kg": 30000.5}
    assert world.enterprise.call("waybill_push", {**push, "driver_code": a["driver_code"]})["code"] == "1005"
    assert world.enterprise.call("waybill_push", {**push, "kind": "exclusive", "waybill_no": "WB-EXCL-01"})["code"] == "1005"
    qr = world.enterprise.call("waybill_push", {**push, "qr_ttl_seconds": 60})["data"]["qr_content"]
    world.clock.advance(61)
    accept = {"driver_code": a["driver_code"], "driver_token": a["driver_token"], "qr_content": qr}
    assert world.carrier.call("waybill_accept", accept)["code"] == "4003"  # expired
    fresh = world.enterprise.call("waybill_qr", {"waybill_no": "WB-PUBLIC-01"})["data"]["qr_content"]
    assert world.carrier.call("waybill_accept", {**accept, "qr_content": fresh})["code"] == "0"
    other = {"driver_code": b["driver_code"], "driver_token": b["driver_token"], "qr_content": fresh}
    assert world.carrier.call("waybill_accept", other)["code"] == "4004"
    assert world.carrier.call("waybill_status", {"waybill_no": "WB-PUBLIC-01"})["code"] == "4001"  # another app's waybill


def test_a_public_waybills_empty_driver_code_is_no_driver(world: World, strict_world: World) -> None:
    """driver_code "" on a public waybill reads as absent (D-DYM-WAYBILL, tolerant; D-DYM-SIGN leaves "" out of the
    signing string); an exclusive one with "" still names no driver (1005); --profile strict refuses the form (1001)."""
    push = {"waybill_no": "WB-PUBLIC-02", "kind": "public", "origin": "曲靖", "destination": "昆明", "goods": "煤", "weight_kg": 12.5}
    reply = world.enterprise.call("waybill_push", {**push, "driver_code": ""})
    assert reply["code"] == "0" and reply["data"]["qr_content"], reply
    exclusive = {**push, "waybill_no": "WB-EXCL-02", "kind": "exclusive", "driver_code": ""}
    assert world.enterprise.call("waybill_push", exclusive)["code"] == "1005"
    assert strict_world.enterprise.call("waybill_push", {**push, "driver_code": ""})["code"] == "1001"


def test_driver_lookup_needs_the_capacity_code(world: World) -> None:
    a = _claim(world, DRIVER_A)
    code = signing.capacity_code(signing.token_hash(a["driver_token"]), world.clock())
    found = world.enterprise.call("driver_lookup", {"mobile": DRIVER_A["mobile"], "capacity_code": code})
    assert found["code"] == "0", found
    assert found["data"] == {
        "driver_code": a["driver_code"],
        "name": "**峰",
        "plates": ["云L69568"],
        "status": "blue",
        "credit_rating": "A",
    }
    wrong = "000000" if code != "000000" else "111111"
    assert world.enterprise.call("driver_lookup", {"mobile": DRIVER_A["mobile"], "capacity_code": wrong})["code"] == "3005"
    assert world.enterprise.call("driver_lookup", {"plate": "云A00000", "capacity_code": code})["code"] == "3001"
    assert world.enterprise.call("driver_lookup", {"capacity_code": code})["code"] == "1001"  # no key field


def test_claims_refuse_bad_check_digits_and_duplicates(world: World) -> None:
    bad = DRIVER_A["id_no"][:17] + ("0" if DRIVER_A["id_no"][17] != "0" else "1")
    reply = world.enterprise.call("driver_claim", {**DRIVER_A, "id_no": bad})
    assert reply["code"] == "1003" and reply["violations"][0]["rule"] == "DYM-ID-CHECK"
    _claim(world, DRIVER_A)
    assert world.enterprise.call("driver_claim", DRIVER_A)["code"] == "3002"
    ent = {"uscc": "91350100M000100Y43", "name": "昆明货运有限公司", "mobile": "13900000001"}
    claimed = world.enterprise.call("enterprise_claim", ent)
    assert claimed["code"] == "0" and claimed["data"]["qr_content"].startswith("DYM1:E:DYME")
    assert world.enterprise.call("enterprise_claim", {**ent, "uscc": "91350100M000100Y44"})["code"] == "1004"
    assert world.enterprise.call("enterprise_claim", ent)["code"] == "3002"
    bind = {"driver_code": "DYMD0000000000000000", "driver_token": "x" * 43, "plate": "云A12345"}
    assert world.carrier.call("vehicle_bind", bind)["code"] == "3001"


def test_driver_lookup_by_a_shared_plate_finds_the_driver_whose_capacity_code_it_is(world: World) -> None:
    """Two drivers who drive one truck in turns share its plate: one key field and the capacity code still name one
    driver (D-DYM-CAPACITY-CODE), so the lookup the design advises is answered; a code of neither is 3005."""
    a = _claim(world, DRIVER_A)
    b = _claim(world, {**DRIVER_B, "plate": DRIVER_A["plate"]})
    for d in (a, b):
        code = signing.capacity_code(signing.token_hash(d["driver_token"]), world.clock())
        found = world.enterprise.call("driver_lookup", {"plate": DRIVER_A["plate"], "capacity_code": code})
        assert found["code"] == "0" and found["data"]["driver_code"] == d["driver_code"], found
    codes = {signing.capacity_code(signing.token_hash(d["driver_token"]), world.clock(), offset=o) for d in (a, b) for o in (0, -1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in codes)
    assert world.enterprise.call("driver_lookup", {"plate": DRIVER_A["plate"], "capacity_code": wrong})["code"] == "3005"
    unknown = world.enterprise.call("driver_lookup", {"plate": "云A00000", "capacity_code": wrong})
    assert unknown["code"] == "3001" and unknown["violations"][0]["field"] == "plate", unknown
