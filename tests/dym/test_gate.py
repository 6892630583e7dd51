"""The DYM gate (D-DYM-SIGN, D-DYM-TIMESTAMP, D-DYM-NONCE), the journal's masking of secrets and personal data, and
ledger entries that commit with their records or not at all."""

from __future__ import annotations

import json

from harness.dym import personal, signing
from tests.dym.conftest import DRIVER_A, DRIVER_B, World


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


def test_unknown_app_bad_sign_stale_timestamp_and_reused_nonce_are_refused(world: World) -> None:
    e = world.enterprise
    body = {"driver_code": "DYMD0000000000000000"}
    assert e.call("code_status", body, app_id="NOSUCHAPP0000001")["code"] == "2001"
    assert e.call("code_status", body, sign="0" * 64)["code"] == "2002"
    stale = signing.signed(body, e.app.app_id, e.app.secret, now=world.clock() - 301)
    reply = e.client.raw("POST", "/dym/code/status", json=stale).json()
    assert reply["code"] == "2003" and reply["violations"][0]["rule"] == "DYM-TIMESTAMP"
    once = signing.signed({**DRIVER_A}, e.app.app_id, e.app.secret, now=world.clock(), nonce="replayed-nonce-0001")
    assert e.client.raw("POST", "/dym/driver/claim", json=once).json()["code"] == "0"
    replay = e.client.raw("POST", "/dym/driver/claim", json=once).json()
    assert replay["code"] == "2004" and replay["violations"][0]["rule"] == "DYM-NONCE"
    # A refused request does not consume its nonce (D-DYM-NONCE): the same nonce in a fresh, valid request passes.
    first = signing.signed(body, e.app.app_id, e.app.secret, now=world.clock(), nonce="refused-nonce-00001")
    assert e.client.raw("POST", "/dym/code/status", json=first).json()["code"] == "3001"
    assert e.client.raw("POST", "/dym/code/status", json=first).json()["code"] == "3001"


def test_the_gate_runs_before_the_schema(world: World) -> None:
    reply = world.enterprise.call("code_status", {"driver_code": 12}, sign="f" * 64)
    assert reply["code"] == "2002"  # not 1001: the signature is judged first (D-DYM-CODES)
    reply = world.enterprise.call("code_status", {"driver_code": 12})
    assert reply["code"] == "1001" and reply["violations"][0]["field"].endswith("driver_code")


def test_uppercase_sign_verifies_with_a_should_verdict(world: World) -> None:
    e = world.enterprise
    doc = signing.signed(DRIVER_A, e.app.app_id, e.app.secret, now=world.clock())
    doc["sign"] = doc["sign"].upper()
    reply = e.client.raw("POST", "/dym/driver/claim", json=doc).json()
    assert reply["code"] == "0", reply
    row = world.store.query("SELECT outcome, verdicts FROM journal WHERE platform = 'dym' ORDER BY id DESC LIMIT 1")[0]
    verdicts = json.loads(row["verdicts"])
    sign = [v for v in verdicts if v["rule"] == "DYM-SIGN"]
    assert row["outcome"] == "warning" and sign[0]["level"] == "SHOULD" and sign[0]["decision"] == "D-DYM-SIGN"


def test_the_journal_masks_tokens_and_personal_data(world: World) -> None:
    claimed = world.enterprise.call("driver_claim", DRIVER_A)["data"]
    rows = world.store.query("SELECT request_body, reply_body FROM journal WHERE platform = 'dym'")
    text = "".join(_text(r["request_body"]) + _text(r["reply_body"]) for r in rows)
    assert claimed["driver_code"] in text  # the journal is evidence: the code itself is there
    for secret in (claimed["driver_token"], DRIVER_A["id_no"], DRIVER_A["mobile"], DRIVER_A["name"]):
        assert secret not in text


def test_a_ledger_entry_commits_with_its_record_or_not_at_all(world: World) -> None:
    def size() -> int:
        return world.store.query_one("SELECT count(*) AS n FROM ledger_entries")["n"]

    assert size() == 0
    world.enterprise.call("driver_claim", DRIVER_A)
    assert size() == 1
    assert world.enterprise.call("driver_claim", DRIVER_A)["code"] == "3002"  # refused: no record, no entry
    assert world.enterprise.call("driver_claim", {**DRIVER_A, "plate": "bad"})["code"] == "1001"
    assert size() == 1
    entry = json.loads(world.store.query_one("SELECT entry FROM ledger_entries WHERE idx = 0")["entry"])
    assert entry["event"]["type"] == "code.claimed"
    for field in ("id_no", "name", "mobile", "plate"):  # personal data: salted commitments in the public log
        assert set(entry["event"][field]) == {"commitment"}
    openings = world.store.query("SELECT path FROM ledger_openings WHERE idx = 0 ORDER BY path")
    assert [r["path"] for r in openings] == ["/id_no", "/mobile", "/name", "/plate"]
    checkpoints = world.store.query_one("SELECT max(size) AS n FROM ledger_checkpoints")["n"]
    assert checkpoints == 1  # signed in the same transaction


def test_strict_profile_refuses_what_the_default_only_warns_about(world: World, strict_world: World) -> None:
    lower_x = {**DRIVER_A, "id_no": "11010519491231002x"}
    for w, sign_code, id_code in ((world, "0", "0"), (strict_world, "2002", "1001")):
        e = w.enterprise
        doc = signing.signed(DRIVER_B, e.app.app_id, e.app.secret, now=w.clock())
        doc["sign"] = doc["sign"].upper()
        assert e.client.raw("POST", "/dym/driver/claim", json=doc).json()["code"] == sign_code
        reply = e.call("driver_claim", lower_x)
        assert reply["code"] == id_code, reply
        if id_code == "0":  # accepted as X, with a SHOULD verdict naming the decision
            row = w.store.query("SELECT outcome, verdicts FROM journal WHERE platform = 'dym' ORDER BY id DESC LIMIT 1")[0]
            assert row["outcome"] == "warning" and "D-DYM-ID-CHECK" in row["verdicts"]
            stored = [personal.open_(w.store, "dym_drivers", "id_no", r["id_no"]) for r in w.store.query("SELECT id_no FROM dym_drivers")]
            assert "11010519491231002X" in stored  # kept sealed (harness/dym/personal.py), upper-cased


def test_the_journal_masks_the_certificates_a_scan_shows(world: World) -> None:
    a = world.enterprise.call("driver_claim", DRIVER_A)["data"]
    grant = {"driver_code": a["driver_code"], "driver_token": a["driver_token"], "grantee": world.enterprise.app.app_id}
    world.carrier.call("consent_grant", {**grant, "scope": ["id_card", "bank_account", "qualification"], "ttl_seconds": 600})
    shown = world.enterprise.call("scan_verify", {"qr_content": a["qr_content"], "fields": ["id_card", "bank_account", "qualification"]})
    account = shown["data"]["certificates"]["bank_account"]["account_no"]
    assert shown["data"]["certificates"]["id_card"]["id_no"] == DRIVER_A["id_no"]  # the consenting caller sees them
    row = world.store.query("SELECT reply_body FROM journal WHERE platform = 'dym' ORDER BY id DESC LIMIT 1")[0]
    journaled = _text(row["reply_body"])
    assert "certificates" in journaled
    for secret in (account, DRIVER_A["id_no"], DRIVER_A["name"]):
        assert secret not in journaled


def test_a_sign_over_the_numbers_as_written_verifies_with_a_should_verdict(world: World, strict_world: World) -> None:
    """D-DYM-SIGN: numbers are signed in their RFC 8785 form (12500.0 → 12500); a client that signed the JSON text it
    wrote (weight_kg=12500.0, 1.25e4) is accepted with a SHOULD verdict naming the decision, refused under strict."""
    for w, want in ((world, "0"), (strict_world, "2002")):
        e = w.enterprise
        for n, weight in enumerate(("12500.0", "1.25e4", "12500.50")):
            fields = {
                "waybill_no": f"WB-NUM-{n}",
                "kind": "public",
                "origin": "曲靖",
                "destination": "昆明",
                "goods": "煤",
                "app_id": e.app.app_id,
                "timestamp": int(w.clock()),
                "nonce": f"number-text-nonce-{n}",
            }
            text = "&".join(f"{k}={v}" for k, v in sorted({**fields, "weight_kg": weight}.items()))
            sign = signing.hmac_hex(text, e.app.secret)
            raw = json.dumps({**fields, "sign": sign}, ensure_ascii=False)[:-1] + f', "weight_kg": {weight}}}'
            reply = e.client.raw("POST", "/dym/waybill/push", content=raw.encode(), headers={"content-type": "application/json"}).json()
            assert reply["code"] == want, (weight, reply)
            if want == "0":
                row = w.store.query("SELECT outcome, verdicts FROM journal WHERE platform = 'dym' ORDER BY id DESC LIMIT 1")[0]
                sign_verdicts = [v for v in json.loads(row["verdicts"]) if v["rule"] == "DYM-SIGN"]
                assert row["outcome"] == "warning" and sign_verdicts[0]["level"] == "SHOULD", row
                assert "RFC 8785" in sign_verdicts[0]["message"] and sign_verdicts[0]["decision"] == "D-DYM-SIGN"
    # The designed form verifies without a verdict against it.
    e = world.enterprise
    push = {"waybill_no": "WB-NUM-D", "kind": "public", "origin": "曲靖", "destination": "昆明", "goods": "煤", "weight_kg": 12500.0}
    assert e.call("waybill_push", push)["code"] == "0"
    row = world.store.query("SELECT outcome FROM journal WHERE platform = 'dym' ORDER BY id DESC LIMIT 1")[0]
    assert row["outcome"] == "held"
