"""Acceptance of a waybill is exclusive at the moment of answering (D-DYM-WAYBILL): two drivers scanning one public
waybill in the same group commit get one "accepted" and one 4004, and the record and the ledger name the winner; a claim
whose exchange rolled back is released; the claim is a row under a primary key, so a second process sharing the store
could not answer "accepted" either."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from harness.dym import signing
from harness.dym.platform import CLAIM_STALE
from tests.dym.conftest import DRIVER_A, DRIVER_B, PATHS, World


def _claim(world: World, driver: dict[str, str]) -> dict[str, Any]:
    reply = world.enterprise.call("driver_claim", driver)
    assert reply["code"] == "0", reply
    return reply["data"]


def _public(world: World, no: str) -> str:
    push = {"waybill_no": no, "kind": "public", "origin": "昆明市官渡区", "destination": "玉溪市", "goods": "化肥", "weight_kg": 20000}
    pushed = world.enterprise.call("waybill_push", push)
    assert pushed["code"] == "0", pushed
    return pushed["data"]["qr_content"]


def _accept_body(world: World, driver: dict[str, Any], qr: str) -> dict[str, Any]:
    body = {"driver_code": driver["driver_code"], "driver_token": driver["driver_token"], "qr_content": qr}
    return signing.signed(body, world.carrier.app.app_id, world.carrier.app.secret, now=world.clock())


def _together(world: World, *bodies: dict[str, Any]) -> list[dict[str, Any]]:
    client = world.client
    path = "/dym" + PATHS["waybill_accept"]

    async def both() -> list[Any]:
        return await asyncio.gather(*(client.client.post(path, json=b) for b in bodies))

    return [r.json() for r in client.loop.run_until_complete(both())]


def test_two_drivers_accepting_one_public_waybill_at_once_get_one_acceptance(world: World) -> None:
    a, b = _claim(world, DRIVER_A), _claim(world, DRIVER_B)
    for round_ in range(5):
        qr = _public(world, f"WB-RACE-{round_}")
        replies = _together(world, _accept_body(world, a, qr), _accept_body(world, b, qr))
        codes = sorted(r["code"] for r in replies)
        assert codes == ["0", "4004"], replies
        winner = next(r for r in replies if r["code"] == "0")["data"]["driver_code"]
        loser = next(r for r in replies if r["code"] == "4004")
        assert loser["violations"][0]["rule"] == "DYM-WAYBILL-STATE" and "data" not in loser
        status = world.enterprise.call("waybill_status", {"waybill_no": f"WB-RACE-{round_}"})["data"]
        assert status["status"] == "accepted" and status["driver_code"] == winner
        accepted = [json.loads(e["entry"])["event"] for e in status["chain"] if e["event"] == "waybill.accepted"]
        assert [e["driver_code"] for e in accepted] == [winner]
    assert world.store.query_one("SELECT count(*) AS n FROM dym_accept_claims")["n"] == 0  # each commit took its claim away


def test_a_claim_of_another_process_refuses_until_it_commits_or_goes_stale(world: World) -> None:
    a = _claim(world, DRIVER_A)
    qr = _public(world, "WB-OTHER-1")
    app_id = world.enterprise.app.app_id
    # Another process answered "accepted" and is committing: its claim row is in the shared store.
    world.store.execute("INSERT INTO dym_accept_claims VALUES (?, ?, 'other', ?)", (app_id, "WB-OTHER-1", time.time()))
    body = {"driver_code": a["driver_code"], "driver_token": a["driver_token"], "qr_content": qr}
    refused = world.carrier.call("waybill_accept", body)
    assert refused["code"] == "4004", refused
    # The other process died before committing: after CLAIM_STALE its claim no longer blocks the waybill.
    world.store.execute("UPDATE dym_accept_claims SET at = ?", (time.time() - CLAIM_STALE - 1,))
    accepted = world.carrier.call("waybill_accept", body)
    assert accepted["code"] == "0", accepted
    assert world.store.query_one("SELECT count(*) AS n FROM dym_accept_claims")["n"] == 0


def test_a_claim_whose_exchange_is_refused_later_is_released(world: World) -> None:
    a, b = _claim(world, DRIVER_A), _claim(world, DRIVER_B)
    qr = _public(world, "WB-ROLLBACK-1")
    platform = world.platform
    original = platform._waybill_accept

    def refused_after_claiming(ctx: Any, d: Any, body: dict[str, Any]) -> dict[str, Any]:
        original(ctx, d, body)
        raise RuntimeError("a failure after the claim")  # the exchange answers 9999 and rolls its unit back

    platform._waybill_accept = refused_after_claiming
    try:
        failed = world.carrier.call(
            "waybill_accept", {"driver_code": a["driver_code"], "driver_token": a["driver_token"], "qr_content": qr}
        )
    finally:
        platform._waybill_accept = original
    assert failed["code"] == "9999", failed
    assert world.store.query_one("SELECT count(*) AS n FROM dym_accept_claims")["n"] == 0
    accepted = world.carrier.call("waybill_accept", {"driver_code": b["driver_code"], "driver_token": b["driver_token"], "qr_content": qr})
    assert accepted["code"] == "0" and accepted["data"]["driver_code"] == b["driver_code"], accepted
