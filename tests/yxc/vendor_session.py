"""A timing platform's session against the reference province server, in-process (httpx.ASGITransport).

``play(tmp_path, ...)`` enrols a vendor, runs the filing flow (uploads, coach, student, classrecord with issued
sign-in/sign-out codes) and returns the store path and the vendor's ``user``; keyword switches plant defects.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fixtures import files as F
from fixtures.yxc import YxcData
from harness.config import Settings
from harness.pki import enrol
from harness.schema import open_store
from harness.server import create_app
from harness.signing import Signer
from harness.yxc import codes


@dataclass
class Session:
    db: Path
    user: str
    replies: dict[str, Any]


def play(
    tmp_path: Path,
    *,
    classrecord: bool = True,
    wrong_total: bool = False,
    bad_signature: bool = False,
    lowercase_user: bool = False,
    missing_field: bool = False,
    seed: int = 1,
) -> Session:
    db = tmp_path / "harness.db"
    settings = Settings(db=db, validate_responses=True)
    store = open_store(db)
    enrolment = enrol(store, "yxc", "A0001", tmp_path / "vendor")
    signer = Signer.from_dir(tmp_path / "vendor")
    app = create_app(settings, store)
    replies: dict[str, Any] = {}

    async def session() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://harness") as client:

            async def upload(kind: str, data: bytes) -> int:
                r = await client.post(f"/yxc/imageup/{kind}", params=signer.query(data), files={"file": (f"{kind}.bin", data)})
                assert r.json()["errorcode"] == 0, r.text
                return r.json()["data"]["id"]

            async def post(operation: str, body: dict[str, Any], expect_ok: bool = True) -> dict[str, Any]:
                raw = json.dumps(body, ensure_ascii=False).encode()
                params = signer.query(raw)
                if bad_signature and operation == "student":
                    params["sign"] = params["sign"][:-4] + ("0000" if not params["sign"].endswith("0000") else "1111")
                    expect_ok = False
                if lowercase_user and operation == "student":
                    params["user"] = params["user"].lower()  # accepted with a warning (D-YXC-SIGN)
                r = await client.post(f"/yxc/{operation}", params=params, content=raw, headers={"content-type": "application/json"})
                replies[operation] = r.json()
                if expect_ok:
                    assert r.json()["errorcode"] == 0, r.text
                return r.json()

            ids = {t: await upload(t, F.png()) for t in ("coachimg", "jsz", "sfz", "stuimg")}
            ids["pyht"] = await upload("pyht", F.pdf())
            photos = [ids["stuimg"], await upload("stuimg", F.jpeg()), await upload("stuimg", F.jpeg(color=(1, 2, 3)))]
            data = YxcData(seed)
            coach = data.coach(ids)
            if missing_field:
                await post("coach", {k: v for k, v in coach.items() if k != "name"}, expect_ok=False)
            await post("coach", coach)
            student = data.student(ids)
            await post("student", student)
            if bad_signature:
                return
            if classrecord:
                login = codes.issue(store, student["stunum"], "login", 3600, source="test")
                logout = codes.issue(store, student["stunum"], "logout", 3600, source="test")
                record = data.classrecord(
                    stunum=student["stunum"],
                    coachnum=coach["coachnum"],
                    platnum="A0001",
                    photos=photos,
                    logininfo=login.code,
                    logoutinfo=logout.code,
                )
                await post("classrecord", record)
                if wrong_total:
                    login = codes.issue(store, student["stunum"], "login", 3600, source="test")
                    logout = codes.issue(store, student["stunum"], "logout", 3600, source="test")
                    bad = {**record, "recnum": "00002", "logininfo": login.code, "logoutinfo": logout.code, "total": record["total"] + 5}
                    await post("classrecord", bad, expect_ok=False)

    asyncio.run(session())
    store.close()
    return Session(db, enrolment.vendor.user, replies)
