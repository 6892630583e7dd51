"""The console's tests: an in-process app (httpx.ASGITransport) with a DUDU world and an enrolled YXC vendor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures import dudu as fx
from fixtures import files as F
from fixtures.yxc import YxcData
from harness.config import Settings
from harness.pki import enrol
from harness.schema import open_store
from harness.server import create_app
from harness.signing import Signer


@dataclass
class Harness:
    app: Any
    store: Any
    signer: Signer
    user: str

    def call(self, method: str, path: str, *, client: tuple[str, int] = ("127.0.0.1", 5000), **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=client)
            async with httpx.AsyncClient(transport=transport, base_url="http://harness") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(go())

    def yxc(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body, ensure_ascii=False).encode()
        r = self.call("POST", f"/yxc/{operation}", params=self.signer.query(raw), content=raw, headers={"content-type": "application/json"})
        return r.json()

    def upload(self, kind: str, data: bytes) -> int:
        r = self.call("POST", f"/yxc/imageup/{kind}", params=self.signer.query(data), files={"file": (f"{kind}.bin", data)})
        return int(r.json()["data"]["id"])

    def coach(self, *, drop: str | None = None) -> dict[str, Any]:
        ids = {t: self.upload(t, F.png()) for t in ("coachimg", "jsz", "sfz")}
        ids["pyht"] = self.upload("pyht", F.pdf())
        body = YxcData(7).coach(ids)
        if drop:
            body.pop(drop)
        return self.yxc("coach", body)

    def heartbeat(self, **overrides: Any) -> dict[str, Any]:
        return self.call("POST", "/dudu/location_report", json=fx.heartbeat(**overrides)).json()


def make_harness(tmp_path: Path, **settings: Any) -> Harness:
    db = tmp_path / "harness.db"
    store = open_store(db)
    fx.world(store, devices=2)
    enrolment = enrol(store, "yxc", "A0001", tmp_path / "vendor", name="示例驾培平台")
    app = create_app(Settings(db=db, **settings), store)
    return Harness(app, store, Signer.from_dir(tmp_path / "vendor"), enrolment.vendor.user)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = make_harness(tmp_path)
    yield h
    h.store.close()
