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
