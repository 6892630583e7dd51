"""The Connexion path answers DYM exactly as the fast path: the gate before the schema, the envelope, the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.dym.platform import DymPlatform
from tests.dym.conftest import DRIVER_A, World, world  # noqa: F401  (the fixture, served without fast operations)


@pytest.fixture(autouse=True)
def _no_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DymPlatform, "fast_operations", lambda self: {})


def test_claim_gate_schema_and_rules_on_the_connexion_path(world: World, tmp_path: Path) -> None:  # noqa: F811
    claimed = world.enterprise.call("driver_claim", DRIVER_A)
    assert claimed["code"] == "0" and claimed["data"]["driver_code"].startswith("DYMD"), claimed
    assert world.enterprise.call("driver_claim", DRIVER_A)["code"] == "3002"
    assert world.enterprise.call("code_status", {"driver_code": 12}, sign="f" * 64)["code"] == "2002"
    assert world.enterprise.call("code_status", {"driver_code": 12})["code"] == "1001"
    status = world.enterprise.call("code_status", {"driver_code": claimed["data"]["driver_code"]})
    assert status["data"]["status"] == "blue"
    assert world.store.query_one("SELECT count(*) AS n FROM ledger_entries")["n"] == 1


def test_a_lone_surrogate_escape_on_the_connexion_path_is_refused_not_crashed(world: World) -> None:  # noqa: F811
    """The gate reads the body before the schema on this path: a ``"\\ud800"`` escape read into the app_id or the
    nonce made the gate's store lookup raise, and one in a signed field made the signing string's UTF-8 encoding raise
    (the internal error, 9999). Such a body is no JSON text to the gate now, as one that does not parse (2001)."""
    import json

    from harness.dym import signing

    app = world.enterprise.app
    document = signing.signed({**DRIVER_A, "name": "@@"}, app.app_id, app.secret, now=world.clock())
    for field in ("name", "app_id", "nonce"):
        raw = json.dumps({**document, field: "@@"}).replace('"@@"', '"\\ud800"').encode()
        reply = world.client.raw("POST", "/dym/driver/claim", content=raw, headers={"content-type": "application/json"}).json()
        assert reply["code"] == "2001" and reply["violations"][0]["rule"] == "DYM-APP-KNOWN", (field, reply)
    assert world.store.query_one("SELECT COUNT(*) AS n FROM dym_nonces")["n"] == 0
