"""The reference vendor's filing flow (examples/yxc_vendor/client.py, 000 附件四) against the in-process province, with
one planted defect at a time: the conforming yxc-timing-platform the defects of examples/defects/yxc-timing-platform.yaml
are planted in.

The flow uploads the files (A.5.3), files a coach (A.6.2.3.1) and a student (A.6.3.1.1), then a classrecord (A.6.3.2)
whose logininfo/logoutinfo are codes the mini-program issued (000 附件二 code). A defect is one extra call that breaks
one rule, sent before the conforming ones (a vendor that got it wrong, then right: the refused call still counts), or,
for "silent", no call at all. Every call is signed with ``?v=&ts=&sign=&user=`` and a ts used once (D-YXC-SIGN).

One :class:`Province` (store, app, enrolled vendor) serves every session; each session is graded from the journal
entries after the id it started at (the role's ``since``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import httpx

from fixtures import files as F
from fixtures.yxc import YxcData
from harness import faults
from harness.clock import BEIJING
from harness.config import Settings
from harness.pki import enrol
from harness.schema import open_store
from harness.server import create_app
from harness.signing import Signer
from harness.yxc import codes

DEFECTS = (
    "silent",  # never calls the province
    "missing-field",  # a coach without its name (表A.2 必选)
    "bad-version",  # v names no known hash (000 附件二 202)
    "stale-ts",  # ts ten minutes old (000 附件二 201)
    "bad-signature",  # sign does not verify (000 附件二 202)
    "reused-ts",  # the same ts twice (000 附件二 201 时间戳重复)
    "wrong-file-format",  # a PNG uploaded as pyht, a PDF type (A.5.3 Type)
    "oversized-file",  # a 600 KB jsz scan (A.5.3 Type jsz 500K; stuimg states no cap)
    "wrong-file-type",  # a coach whose photo names the pdf (A.6 文件 ID)
    "employ-period-reversed",  # pykssj after pyjssj (表A.2 #32/#33)
    "unfiled-student",  # a classrecord for a student never filed (A.6.3.1.1)
    "wrong-platnum",  # 表A.8 #6
    "bad-subjcode",  # vehicle-type code 99 (表A.8 #8, A4.2)
    "wrong-duration",  # duration 5 minutes off (表A.8 #12–#14)
    "wrong-total",  # total ≠ part1+part2+part3+part4 (表A.8 #18–#22)
    "no-photo2",  # 16 minutes without photo2 (表A.8 #10)
    "photo-not-image",  # photo1 names the pdf (表A.8 #9)
    "no-regionseq",  # a subject-2 record without regionseq (表A.8 #23)
    "no-logoutinfo",  # a practical record without logoutinfo (表A.8 #25)
    "classroom-mileage",  # a classroom record with mileage (表A.8 #15)
    "unissued-logininfo",  # logininfo the mini-program never issued (表A.8 #24)
    "unissued-logoutinfo",  # logoutinfo the mini-program never issued (表A.8 #25)
    "unfiled-simulator",  # a simulator record whose carnum names no filed simulator (表A.8 #4)
    "unfiled-coach",  # a practical record whose coachnum was never filed (表A.8 #3)
    "future-endtime",  # a record whose training ends 75 minutes after it is filed (表A.8 #13)
    # recovery after a drill fault (harness faults; D-YXC-REFILE, D-YXC-RECORD-IDENTITY)
    "no-refile",  # a classrecord a 503 drill refused is never filed again
    "refile-new-recnum",  # the refused classrecord is filed again under another recnum
    "double-filed",  # a slow (delay drill) but accepted classrecord is filed again under another recnum
    "recnum-reused",  # a second training filed under the recnum of the first
)
# Defects only a decision's strict reading refuses (D-YXC-REFERENCES, -SUBJCODE, -SIM-CARNUM, -ENDTIME-FUTURE): accepted, with a warning.
ACCEPTED_WITH_WARNING = ("unfiled-student", "bad-subjcode", "unfiled-simulator", "unfiled-coach", "future-endtime")
UPLOADS = {"coachimg": F.jpeg, "jsz": F.jpeg, "sfz": F.png, "pyht": F.pdf, "stuimg": F.jpeg}


class Province:
    """The reference province in-process, with one enrolled vendor (platnum A0001)."""

    def __init__(self, tmp: Path) -> None:
        self.db = tmp / "harness.db"
        self.store = open_store(self.db)
        self.user = enrol(self.store, "yxc", "A0001", tmp / "vendor").vendor.user
        self.signer = Signer.from_dir(tmp / "vendor")
        self.app = create_app(Settings(db=self.db, validate_responses=True), self.store)
        self._ts = 0
        self.sessions = 0

    def last_id(self) -> int:
        return int(self.store.query_one("SELECT COALESCE(MAX(id), 0) AS n FROM journal")["n"])

    def ts(self) -> int:
        self._ts = max(self._ts + 1, int(time.time() * 1000))
        return self._ts

    def close(self) -> None:
        self.store.close()

    def session(self, defect: str | None = None, *, drill: bool = False) -> int:
        """Play the flow with at most one planted defect; returns the journal id the session started after. ``drill``:
        a 503 drill fault refuses the first classrecord, which the conforming vendor files again (D-YXC-REFILE)."""
        if defect is not None and defect not in DEFECTS:
            raise ValueError(f"unknown defect {defect!r}")
        since = self.last_id()
        self.sessions += 1
        if defect != "silent":
            asyncio.run(self._flow(defect, YxcData(self.sessions), drill))
        return since

    def remote_session(self, form: str | None = None, *, photo_int: bool = False) -> int:
        """A remote-teaching platform (000 2.2 2)): uploads its photos and files one remote record (training mode 4) for a
        student another platform filed; no coach, no student. ``form``: "omit" or "empty" for 表A.8 #3–#5 (不使用)."""
        since = self.last_id()
        self.sessions += 1
        data = YxcData(self.sessions)

        async def flow() -> None:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://harness") as client:
                photos = []
                for _ in range(3):
                    content = F.jpeg()
                    r = await client.post(
                        "/yxc/imageup/onlineimg",
                        params=self.signer.query(content, self.ts()),
                        files={"file": ("online.jpg", content, "application/octet-stream")},
                    )
                    assert r.json()["errorcode"] == 0, r.json()
                    photos.append(int(r.json()["data"]["id"]))
                stunum = "S440106200129437"
                body = data.classrecord(
                    stunum=stunum,
                    coachnum="0" * 16,
                    platnum="A0001",
                    photos=photos,
                    logininfo=codes.issue(self.store, stunum, "login", 3600, source="test").code,
                    logoutinfo=None,
                    mode="4",
                    part="1",
                    minutes=30,
                )
                body.update(carnum="0" * 16, simunum="0" * 16, mileage=0, avevelocity=0)
                if form == "omit":
                    for name in ("coachnum", "carnum", "simunum"):
                        del body[name]
                elif form == "empty":
                    body.update(coachnum="", carnum="", simunum="")
                if photo_int:
                    body.update({k: int(body[k]) for k in ("photo1", "photo2", "photo3")})
                raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
                r = await client.post(
                    "/yxc/classrecord", params=self.signer.query(raw, self.ts()), content=raw, headers={"content-type": "application/json"}
                )
                assert r.json()["errorcode"] == 0, r.json()

        asyncio.run(flow())
        return since

    def fault(self, kind: str, **scope: Any) -> faults.FaultRule:
        """A drill fault on this vendor's classrecords, until :meth:`clear`."""
        return faults.add(self.store, kind, "yxc", operation="classrecord", vendor=self.user, **scope)

    def clear(self, rule: faults.FaultRule) -> None:
        faults.clear(self.store, [rule.id])

    async def _flow(self, defect: str | None, data: YxcData, drill: bool = False) -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://harness") as client:

            async def send(path: str, raw: bytes, *, files: Any = None, params: dict[str, str] | None = None) -> dict[str, Any]:
                params = params or self.signer.query(raw, self.ts())
                if files is not None:
                    r = await client.post(f"/yxc/{path}", params=params, files=files)
                else:
                    r = await client.post(f"/yxc/{path}", params=params, content=raw, headers={"content-type": "application/json"})
                return r.json()

            async def upload(kind: str, content: bytes) -> dict[str, Any]:
                return await send(f"imageup/{kind}", content, files={"file": (f"{kind}.bin", content, "application/octet-stream")})

            async def file(operation: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
                return await send(operation, json.dumps(body, ensure_ascii=False).encode("utf-8"), **kwargs)

            # -- defects of the gate and of uploads: one extra call, refused -----------------------------------------
            if defect == "wrong-file-format":
                await upload("pyht", F.png())
            if defect == "oversized-file":
                await upload("jsz", F.padded(F.jpeg(), 600_000))
            ids: dict[str, int] = {}
            for kind, make in UPLOADS.items():
                reply = await upload(kind, make())
                assert reply["errorcode"] == 0, reply
                ids[kind] = int(reply["data"]["id"])
            coach = data.coach(ids)
            raw = json.dumps(coach, ensure_ascii=False).encode("utf-8")
            if defect == "bad-version":
                await file("coach", coach, params={**self.signer.query(raw, self.ts()), "v": "9.9.9.x"})
            if defect == "stale-ts":
                await file("coach", coach, params=self.signer.query(raw, int(time.time() * 1000) - 600_000))
            if defect == "bad-signature":
                params = self.signer.query(raw, self.ts())
                await file(
                    "coach", coach, params={**params, "sign": params["sign"][:-4] + ("0000" if params["sign"][-4:] != "0000" else "1111")}
                )
            if defect == "missing-field":
                await file("coach", {k: v for k, v in coach.items() if k != "name"})
            if defect == "wrong-file-type":
                await file("coach", {**coach, "photo": ids["pyht"]})
            if defect == "employ-period-reversed":
                await file("coach", {**coach, "pykssj": coach["pyjssj"], "pyjssj": coach["pykssj"]})
            params = self.signer.query(raw, self.ts())
            assert (await file("coach", coach, params=params))["errorcode"] == 0
            if defect == "reused-ts":
                await file("coach", coach, params=params)  # the same v, ts, sign and user again
            student = data.student(ids)
            assert (await file("student", student))["errorcode"] == 0

            # -- defects of the classrecord: one extra record, refused, with codes of its own -------------------------
            def record(stunum: str = student["stunum"], **overrides: Any) -> dict[str, Any]:
                kwargs: dict[str, Any] = {
                    "stunum": stunum,
                    "coachnum": coach["coachnum"],
                    "platnum": "A0001",
                    "photos": [ids["stuimg"], ids["stuimg"], ids["stuimg"]],
                    "logininfo": codes.issue(self.store, stunum, "login", 3600, source="test").code,
                    "logoutinfo": codes.issue(self.store, stunum, "logout", 3600, source="test").code,
                }
                for name in list(overrides):
                    if name in kwargs or name in ("minutes", "mode", "part", "recnum", "start"):
                        kwargs[name] = overrides.pop(name)
                body = data.classrecord(**kwargs)
                body.update(overrides)
                return body

            bad: dict[str, Any] | None = None
            if defect == "unfiled-student":
                bad = record("S888888888888888")
            elif defect == "wrong-platnum":
                bad = record(platnum="Z9999")
            elif defect == "bad-subjcode":
                bad = record(subjcode="1992010000")
            elif defect == "wrong-duration":
                bad = record(minutes=45)
                bad["duration"] = "40"
            elif defect == "wrong-total":
                bad = record()
                bad["total"] += 5
            elif defect == "no-photo2":
                bad = record(minutes=16)
                del bad["photo2"]
            elif defect == "photo-not-image":
                bad = record(photo1=str(ids["pyht"]))
            elif defect == "no-regionseq":
                bad = record(part="2")
                del bad["regionseq"]
            elif defect == "no-logoutinfo":
                bad = record(logoutinfo=None)
            elif defect == "classroom-mileage":
                bad = record(mode="2", part="1", mileage=3)
            elif defect == "unissued-logininfo":
                bad = record(logininfo="0123456789ABCDEF0123456789ABCDEF")
            elif defect == "unissued-logoutinfo":
                bad = record(logoutinfo="FEDCBA9876543210FEDCBA9876543210")
            elif defect == "unfiled-simulator":
                bad = record(mode="3", part="1", carnum="X" * 12 + "0042")
            elif defect == "unfiled-coach":
                bad = record(coachnum="C999999999999999")
            elif defect == "future-endtime":
                bad = record(start=dt.datetime.now(BEIJING).replace(microsecond=0) + dt.timedelta(minutes=30))
            if bad is not None:
                bad["recnum"] = "00009"
                reply = await file("classrecord", bad)
                # a reading only a decision's strict form refuses is accepted, with a warning (harness serve's default)
                assert (reply["errorcode"] == 0) == (defect in ACCEPTED_WITH_WARNING), (defect, reply)
            good = record()
            # -- recovery after a drill fault: the record the drill refuses, and what the vendor does next ------------
            if drill or defect in ("no-refile", "refile-new-recnum"):
                denied = {**good, "recnum": "00009"} if defect == "no-refile" else good
                denied = {**denied, "coacmt": "补传"} if defect == "no-refile" else denied  # another record than good
                rule = self.fault("status")
                try:
                    assert (await file("classrecord", denied))["errorcode"] == 1  # the drill's system-error envelope
                finally:
                    self.clear(rule)
                if defect == "refile-new-recnum":
                    good = {**good, "recnum": "00007"}  # filed again, but as another record
            elif defect == "double-filed":
                rule = self.fault("delay", delay_ms=20)
                try:
                    assert (await file("classrecord", {**good, "recnum": "00009"}))["errorcode"] == 0  # accepted, slowly
                finally:
                    self.clear(rule)
            elif defect == "recnum-reused":
                earlier = record(start=dt.datetime.now(BEIJING).replace(microsecond=0) - dt.timedelta(hours=3))
                assert (await file("classrecord", earlier))["errorcode"] == 0  # the same recnum as the next training
            assert (await file("classrecord", good))["errorcode"] == 0
