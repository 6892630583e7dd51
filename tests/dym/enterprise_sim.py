"""The conforming enterprise TMS and two drivers' apps of harness.dym.simulators, wired to the in-process server of
tests/dym/conftest.py (World): the TMS signs as the world's enterprise app, the drivers' apps as its platform app."""

from __future__ import annotations

import random
from typing import Any

from harness.dym.simulators import Caller, DriverApp, Tms, identity
from tests.dym.conftest import USCC, World


def sender(world: World, base: str = "/dym") -> Any:
    def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = world.client.raw("POST", base + path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    return send


def session(world: World, *defects: str, seed: int = 7, base: str = "/dym", claim: bool = True) -> dict[str, Any]:
    """Run the TMS scenario once (with ``defects`` planted) under ``base`` and return what it reported; ``claim``: the
    enterprise claims its own code first (once per enterprise)."""
    rng = random.Random(seed)
    send = sender(world, base)
    tms_caller = Caller(send, world.enterprise.app.app_id, world.enterprise.app.secret, world.clock, frozenset(defects))
    tms = Tms(tms_caller, uscc=USCC if claim else None, defects=frozenset(defects))
    apps = [DriverApp(Caller(send, world.carrier.app.app_id, world.carrier.app.secret, world.clock), identity(rng)) for _ in range(2)]
    out = tms.scenario(apps, prefix=f"WB-{seed}")
    out["people"] = [a.person for a in apps]
    return out
