"""In-process DYM server with an injected clock, three registered apps and a client that signs every call (D-DYM-SIGN)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.dudu import AsgiClient
from harness.clock import BEIJING
from harness.config import Settings
from harness.dym import admin, ids, signing
from harness.schema import open_store
from harness.specs import load_spec
from harness.store import Store

with warnings.catch_warnings():  # connexion 3.3 imports starlette.testclient, which warns under httpx 0.28
    warnings.simplefilter("ignore")
    from harness.server import create_app

PATHS = {item["post"]["operationId"].rsplit(".", 1)[-1]: path for path, item in load_spec("dym/platform.yaml")["paths"].items()}
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=BEIJING).timestamp()
# Synthetic identities with valid GB 11643 check digits (5325xx: 红河州), and a valid GB 32100 credit code.
DRIVER_A = {"id_no": ids.make_id("532501", dt.date(1988, 3, 14), 217), "name": "张海峰", "mobile": "13800880001", "plate": "云L69568"}
DRIVER_B = {"id_no": ids.make_id("532502", dt.date(1991, 7, 2), 35), "name": "李文华", "mobile": "13800880002", "plate": "云A3B721"}
USCC = ids.make_uscc("91530100MA6K2L3P0")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Caller:
    """One app's signed client."""

    client: AsgiClient
    app: admin.App
    clock: Clock

    def call(self, operation: str, body: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        document = signing.signed(body or {}, self.app.app_id, self.app.secret, now=self.clock())
        document.update(overrides)
        path = "/dym" + PATHS[operation]
        response = self.client.raw("POST", path, json=document)
        assert response.status_code == 200, response.text
        return response.json()


@dataclass
class World:
    client: AsgiClient
    store: Store
    clock: Clock
    platform: Any
    enterprise: Caller  # a logistics enterprise: claims codes, verifies, pushes waybills
    carrier: Caller  # a second enterprise the drivers work through
    regulator: Caller
    db: Path


def _world(tmp_path: Path, profile: str) -> Iterator[World]:
    db = tmp_path / f"dym-{profile}.db"
    store = open_store(db)
    app = create_app(Settings(db=db, validate_responses=True, profile=profile), store)
    clock = Clock(START)
    platform = app.state_platforms["dym"]
    platform.clock = clock
    app.state_journal.start()
    client = AsgiClient(app)
    apps = [
        admin.add_app(store, "滇中物流有限公司", uscc=USCC, app_id="ENT0000000000001"),
        admin.add_app(store, "云岭运力平台", kind="platform", app_id="PLT0000000000002"),
        admin.add_app(store, "云南省交通运输厅", kind="regulator", app_id="REG0000000000003"),
    ]
    try:
        yield World(client, store, clock, platform, *(Caller(client, a, clock) for a in apps), db)
    finally:
        client.close()
        app.state_journal.stop()
        store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The default profile (tolerant): a decision's strict reading warns."""
    yield from _world(tmp_path, "tolerant")


@pytest.fixture
def strict_world(tmp_path: Path) -> Iterator[World]:
    """``--profile strict``: a decision's strict reading refuses."""
    yield from _world(tmp_path, "strict")
