"""Bad input gets the DYM envelope with a code the table defines, never a stack trace or the internal-error code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.dym import signing
from tests.dym.conftest import DRIVER_A, PATHS, World

APP = "ENT0000000000001"
BODIES: list[tuple[str, Any, str]] = [
    ("driver_claim", b"not json", "1001"),
    ("driver_claim", b"\xff\xfe", "1001"),
    ("driver_claim", [1, 2], "2001"),
    ("driver_claim", {"app_id": 5}, "2001"),
    ("driver_claim", {"app_id": APP}, "2003"),
    ("driver_claim", {"app_id": APP, "timestamp": "now"}, "2003"),
    ("driver_claim", {"app_id": APP, "timestamp": True}, "2003"),
    ("driver_claim", {"app_id": APP, "timestamp": 10**30}, "2003"),
    ("driver_claim", {"app_id": APP, "timestamp": "SIGNED", "sign": 7}, "2003"),
]


@pytest.mark.parametrize(("operation", "body", "code"), BODIES)
def test_malformed_requests_get_a_defined_code(world: World, operation: str, body: Any, code: str) -> None:
    if isinstance(body, dict) and body.get("timestamp") == "SIGNED":
        body = {**body, "timestamp": int(world.clock())}
        code = "2002"
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = world.client.raw("POST", "/dym" + PATHS[operation], headers={"content-type": "application/json"}, **kwargs)
    assert response.status_code == 200 and "Traceback" not in response.text
    assert response.json()["code"] == code, response.text


@pytest.mark.parametrize(
    "extra",
    [
        {"weight": 10**40},  # beyond what RFC 8785 writes: still signed, then refused by the schema
        {"id_no": 12345},
        {"plate": "云L6956８"},
        {"name": ""},
        {"mobile": None},
        {"nested": {"b": [1, {"a": 2.5}]}},
    ],
)
def test_signed_but_malformed_bodies_are_refused_by_the_schema(world: World, extra: dict[str, Any]) -> None:
    reply = world.enterprise.call("driver_claim", {**DRIVER_A, **extra})
    assert reply["code"] == "1001", reply


def test_out_of_range_numbers_are_refused_not_crashed(world: World) -> None:
    code = world.enterprise.call("driver_claim", DRIVER_A)["data"]["driver_code"]
    far = {"driver_code": code, "kind": "violation", "description": "x", "deadline": 10**15}
    assert world.regulator.call("violation_report", far)["code"] == "1001"
    push = {"waybill_no": "WB-0001", "kind": "public", "origin": "a", "destination": "b", "goods": "c", "weight_kg": 1e300}
    assert world.enterprise.call("waybill_push", push)["code"] == "1001"
    qr = {"driver_code": code, "driver_token": "t" * 43, "qr_content": "DYMW1.é.x.1.y"}
    assert world.carrier.call("waybill_accept", qr)["code"] == "2006"  # the token is judged before the QR
    assert signing.open_waybill_qr(b"k" * 32, "DYMW1.é.x.1.y", 0)[0] is None


@pytest.mark.parametrize("field", ["name", "id_no", "plate", "extra"])
def test_a_lone_surrogate_escape_is_refused_in_the_envelope_and_journaled(world: World, field: str) -> None:
    """``"\\ud800"`` is valid JSON bytes but no character: before, Python's parser read it into a string the journal's
    keyed hash of a personal field (name, id_no) could not encode, and the reply was 9999 with the exchange unjournaled.
    Now the parser refuses it (1001) naming the field, before the gate, and the refusal is journaled."""
    document = signing.signed({**DRIVER_A, field: "@@"}, APP, world.enterprise.app.secret, now=world.clock())
    raw = json.dumps(document).replace('"@@"', '"\\ud800"').encode()
    before = world.store.query_one("SELECT COUNT(*) AS n FROM journal")["n"]
    response = world.client.raw("POST", "/dym" + PATHS["driver_claim"], content=raw, headers={"content-type": "application/json"})
    reply = response.json()
    assert reply["code"] == "1001", reply
    assert [(v["rule"], v["field"]) for v in reply["violations"]] == [("LIMIT", f"body.{field}")], reply
    assert world.store.query_one("SELECT COUNT(*) AS n FROM dym_drivers")["n"] == 0
    assert world.enterprise.call("code_status", {"driver_code": "DYMD" + "0" * 16})["code"] != "9999"  # the writer caught up
    assert world.store.query_one("SELECT COUNT(*) AS n FROM journal")["n"] >= before + 2
