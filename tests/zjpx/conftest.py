"""In-process ZJPX harness for tests: the real app (create_app) over httpx.ASGITransport, with a settable clock."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.zjpx import ZjpxData, resources
from harness.config import Settings
from harness.schema import open_store
from harness.server import create_app
from harness.zjpx import accounts

START_MS = 1_760_000_000_000  # a fixed instant (2025-10-09 Beijing), so day boundaries are reproducible
PASSWORD = "s3cret-pass"
_accounts = itertools.count(1)


class Served:
    """One app per profile for the whole test session (building one takes about a second)."""

    def __init__(self, tmp: Path, profile: str, target: str | None = None) -> None:
        self.store = open_store(target or tmp / "harness.db")
        self.settings = Settings(db=tmp / "harness.db", validate_responses=True, profile=profile)
        self.app = create_app(self.settings, self.store)
        self.platform = self.app.state_platforms["zjpx"]  # type: ignore[attr-defined]


class Zjpx:
    """One learning-platform account (so tests never see each other's records) and a clock under the test's control."""

    def __init__(self, served: Served) -> None:
        self.store, self.settings, self.app, self.platform = served.store, served.settings, served.app, served.platform
        self.now = START_MS
        self.platform.clock = lambda: self.now
        self.account = accounts.add_account(self.store, f"platform{next(_accounts)}", PASSWORD, "测试学习平台")
        self.code = self.account.platform_code
        self.token = ""

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)

    def raw(self, path: str, content: bytes | str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://harness") as client:
                return await client.post(
                    "/zjpx" + path, content=content, headers=headers or {"content-type": "application/json; charset=utf-8"}
                )

        response = asyncio.run(go())
        assert response.status_code == 200, response.text
        return response.json()

    def call(self, path: str, data: Any, *, token: str | None = None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        h = headers if headers is not None else {"deviceType": "TYPE_PC", "timestamp": str(self.now // 1000), "deviceId": "0a1b2c3d4e5f"}
        if headers is None:
            h["userToken"] = self.token if token is None else token
        return self.raw(path, json.dumps({"headers": h, "data": data}, ensure_ascii=False).encode("utf-8"))

    def login(self) -> str:
        reply = self.call("/api/v1/thlogin", {"studyPlatformAcount": self.account.account, "passWord": PASSWORD}, token="")
        assert reply["returnCode"] == "0", reply
        self.token = reply["returnData"]["acceptToken"]
        return self.token

    def journal(self) -> list[dict[str, Any]]:
        """This test's exchanges (those journaled under its platform code), oldest first."""
        return self.app.state_journal.query(platform="zjpx", vendor=self.code, limit=None, ascending=True)  # type: ignore[attr-defined]

    # -- scenario helpers ------------------------------------------------------------------------------------------
    def file_class(self, seed: int = 1, **config: Any) -> dict[str, Any]:
        intake = ZjpxData(seed).class_intake(**config)
        reply = self.call("/api/class/v1/pushClassInfo", intake)
        assert reply["returnCode"] == "0", reply
        return intake

    def keys(self, intake: dict[str, Any], video: int = 0, student: int = 0) -> dict[str, Any]:
        course, chapter, res, _ = resources(intake)[video]
        return {
            "studyPlatformCode": self.code,
            "resCode": res,
            "studentUserCode": intake["thirdClassStudentInfoVoList"][student]["studentCode"],
            "sectionCode": chapter,
            "classCode": intake["classCode"],
            "courseCode": course,
        }

    @staticmethod
    def only(keys: dict[str, Any], *names: str) -> dict[str, Any]:
        return {k: v for k, v in keys.items() if k in names}

    def start(self, keys: dict[str, Any]) -> dict[str, Any]:
        return self.call("/api/v1/startStudy", keys)

    def hour(self, keys: dict[str, Any], play: int, progress: int) -> dict[str, Any]:
        return self.call("/api/v1/studyHour", dict(keys, playTime=play, progressTime=progress))

    def end(self, keys: dict[str, Any]) -> dict[str, Any]:
        return self.call("/api/v1/endStudy", self.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode"))

    def face(self, keys: dict[str, Any], target: str, *, mode: str = "0", at: int = 0, biz: str | None = None) -> dict[str, Any]:
        ids = self.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode")
        if biz is None:
            cfg = self.call("/api/v1/getFaceCompareConfig", ids)
            assert cfg["returnCode"] == "0", cfg
            biz = cfg["returnData"]["bizCode"]
        return self.call("/api/v1/thirdFaceCompare", dict(ids, compareMode=mode, target=target, videoStudyTime=at, bizCode=biz))


def failed_rules(reply: dict[str, Any]) -> set[str]:
    return {v["rule"] for v in (reply.get("returnData") or {}).get("violations", [])}


@pytest.fixture(scope="session")
def served_strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("zjpx-strict"), "strict")
    yield served
    served.store.close()


@pytest.fixture(scope="session")
def served_tolerant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("zjpx-tolerant"), "tolerant")
    yield served
    served.store.close()


@pytest.fixture(scope="session")
def served_strict_pg(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("zjpx-strict-pg"), "strict", postgres_server.fresh())
    yield served
    served.store.close()


@pytest.fixture
def zj(request: pytest.FixtureRequest, served_strict: Served) -> Zjpx:
    """On SQLite; ``parametrize("zj", ["sqlite", "postgresql"], indirect=True)`` runs a test on both engines."""
    if getattr(request, "param", "sqlite") == "postgresql":
        served_strict = request.getfixturevalue("served_strict_pg")
    harness = Zjpx(served_strict)
    harness.login()
    return harness


@pytest.fixture
def zj_tolerant(served_tolerant: Served) -> Zjpx:
    harness = Zjpx(served_tolerant)
    harness.login()
    return harness
