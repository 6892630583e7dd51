"""A real ``harness serve`` on loopback for the console's live tests, with a DUDU world and an enrolled YXC vendor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fixtures import dudu as fx
from fixtures import files as F
from fixtures.yxc import YxcData
from harness.pki import enrol
from harness.schema import open_store
from harness.signing import Signer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    base: str
    db: Path
    signer: Signer
    user: str

    def heartbeat(self, **overrides: Any) -> dict[str, Any]:
        return httpx.post(f"{self.base}/dudu/location_report", json=fx.heartbeat(**overrides), timeout=10).json()

    def yxc(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body, ensure_ascii=False).encode()
        params = self.signer.query(raw)
        reply = httpx.post(
            f"{self.base}/yxc/{operation}", params=params, content=raw, headers={"content-type": "application/json"}, timeout=10
        )
        return reply.json()

    def upload(self, kind: str, data: bytes) -> int:
        reply = httpx.post(
            f"{self.base}/yxc/imageup/{kind}", params=self.signer.query(data), files={"file": (f"{kind}.bin", data)}, timeout=10
        )
        return int(reply.json()["data"]["id"])

    def coach(self, *, drop: str | None = None, seed: int = 7) -> dict[str, Any]:
        ids = {t: self.upload(t, F.png()) for t in ("coachimg", "jsz", "sfz")}
        ids["pyht"] = self.upload("pyht", F.pdf())
        body = YxcData(seed).coach(ids)
        if drop:
            body.pop(drop)
        return self.yxc("coach", body)


@contextmanager
def live_server(tmp: Path, *extra: str) -> Iterator[LiveServer]:
    db = tmp / "harness.db"
    store = open_store(db)
    fx.world(store, devices=2)
    enrolment = enrol(store, "yxc", "A0001", tmp / "vendor", name="示例驾培平台")
    store.close()
    port = free_port()
    log = (tmp / "serve.log").open("wb")  # a file, not a pipe: an unread pipe would block the server once full
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", str(port), "--db", str(db), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/_harness/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("harness serve did not start: " + (tmp / "serve.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        yield LiveServer(base, db, Signer.from_dir(tmp / "vendor"), enrolment.vendor.user)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:  # an event stream still open: it would end within 25 s
            proc.kill()
            proc.wait(timeout=10)
        log.close()
