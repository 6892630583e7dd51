"""Shared test fixtures: a fresh store per test and an in-process client for the reference server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.config import Settings
from harness.pki import Enrolment, enrol
from harness.schema import open_store
from harness.server import create_app
from harness.signing import Signer
from harness.store import Store


@dataclass
class Harness:
    """An in-process reference server with one enrolled YXC vendor."""

    settings: Settings
    store: Store
    app: Any
    enrolment: Enrolment
    signer: Signer

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://harness.test") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def post_json(
        self,
        operation: str,
        body: Any,
        *,
        signer: Signer | None = None,
        ts: int | None = None,
        raw: bytes | None = None,
        sign_over: bytes | None = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        query = (signer or self.signer).query(sign_over if sign_over is not None else data, ts)
        query.update(params or {})
        reply = self.request("POST", f"/yxc/{operation}", params=query, content=data, headers={"content-type": content_type})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def upload(self, file_type: str, data: bytes, *, signer: Signer | None = None, ts: int | None = None) -> dict[str, Any]:
        query = (signer or self.signer).query(data, ts)
        reply = self.request("POST", f"/yxc/imageup/{file_type}", params=query, files={"file": ("upload.bin", data)})
        assert reply.status_code == 200, reply.text
        return reply.json()


@pytest.fixture
def make_harness(tmp_path: Path) -> Callable[..., Harness]:
    """Build a harness on a store in tmp_path; the same db path can be reopened to test restarts."""

    def build(profile: str = "strict", db: Path | None = None, platnum: str = "A0001", enrolment: Enrolment | None = None) -> Harness:
        settings = Settings(db=db or tmp_path / "harness.db", profile=profile, validate_responses=True)
        store = open_store(settings.db)
        enrolment = enrolment or enrol(store, "yxc", platnum, tmp_path / f"vendor-{platnum}")
        signer = Signer.from_pem_files(enrolment.files["key"], enrolment.files["cert"])
        return Harness(settings, store, create_app(settings, store), enrolment, signer)

    return build


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
