"""kill -9 under load on the embedded store: nothing acknowledged is lost.

The reply leaves only once its journal row and its state changes have committed (the group commit,
harness/journal.py), so every DUDU offline log a device saw acknowledged (ret_code 0) must be in the store after the
server is killed without warning, with its journal row; the store opens cleanly afterwards.
On PostgreSQL (tests/test_store_pg.py kills the one serving process) the drill here serves with --workers 2 and kills
one worker process, not the parent: nothing it acknowledged is lost, and the other worker keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures import dudu as fx
from harness.journal import Journal
from harness.schema import open_store


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_acknowledged_offline_logs_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    store = open_store(db)
    fx.world(store, devices=8)
    store.close()
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", str(port), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/dudu"
    acknowledged: set[tuple[str, int]] = set()
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                if httpx.post(f"{base}/location_report", json=fx.heartbeat(), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "harness serve did not come up"
            time.sleep(0.3)

        async def device(n: int) -> None:
            device_id = f"DEV{n:05d}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                for seq in range(1, 100_000):
                    try:
                        reply = await client.post("/card_check_log", json=fx.card_log(seq, device_id=device_id))
                    except httpx.HTTPError:
                        return  # the server is gone
                    if reply.status_code == 200 and reply.json().get("ret_code") == 0:
                        acknowledged.add((device_id, seq))

        async def drill() -> None:
            tasks = [asyncio.create_task(device(n)) for n in range(1, 9)]
            while len(acknowledged) < 300:
                await asyncio.sleep(0.01)
                assert proc.poll() is None, "harness serve died on its own"
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(asyncio.gather(*tasks), 30)

        asyncio.run(drill())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)
    assert proc.returncode == -signal.SIGKILL
    store = open_store(db)  # recovers from the WAL as any SQLite database does
    try:
        stored = {(r["device_id"], r["seq"]) for r in store.query("SELECT device_id, seq FROM dudu_offline_logs")}
        journaled = Journal(store).query(platform="dudu", operation="card_check_log", limit=None)
    finally:
        store.close()
    assert len(acknowledged) >= 300
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged logs lost"
    assert len(journaled) >= len(acknowledged)


def test_kill_9_of_one_worker_of_two_on_postgresql_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil", reason="the drill finds the worker processes with psutil")
    store = open_store(pg_url)
    fx.world(store, devices=8)
    store.close()
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", str(port), "--store", pg_url, "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,  # where a PostgreSQL store's sealing key file goes without HARNESS_SEAL_KEY
    )
    base = f"http://127.0.0.1:{port}/dudu"
    acknowledged: set[tuple[str, int]] = set()
    after_kill = 0
    killed = False
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.post(f"{base}/location_report", json=fx.heartbeat(), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "harness serve did not come up"
            time.sleep(0.3)

        def workers() -> list[Any]:
            found = []
            for child in psutil.Process(proc.pid).children(recursive=True):
                try:
                    if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in child.net_connections(kind="tcp")):
                        found.append(child)
                except psutil.Error:
                    pass
            return found

        async def device(n: int) -> None:
            nonlocal after_kill
            device_id = f"DEV{n:05d}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                for seq in range(1, 100_000):
                    if after_kill >= 300:
                        return
                    try:
                        reply = await client.post("/card_check_log", json=fx.card_log(seq, device_id=device_id))
                    except httpx.HTTPError:
                        continue  # its worker was killed: the next request opens a new connection (to the other)
                    if reply.status_code == 200 and reply.json().get("ret_code") == 0:
                        acknowledged.add((device_id, seq))
                        after_kill += killed

        async def drill() -> None:
            nonlocal killed
            tasks = [asyncio.create_task(device(n)) for n in range(1, 9)]
            while len(acknowledged) < 300:
                await asyncio.sleep(0.01)
                assert proc.poll() is None, "harness serve died on its own"
            serving = workers()
            assert len(serving) == 2, serving
            serving[0].send_signal(signal.SIGKILL)
            killed = True
            await asyncio.wait_for(asyncio.gather(*tasks), 60)  # every device goes on until 300 more were acknowledged

        asyncio.run(drill())
        assert proc.poll() is None  # the parent kept serving through the other worker
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
    store = open_store(pg_url)
    try:
        stored = {(r["device_id"], r["seq"]) for r in store.query("SELECT device_id, seq FROM dudu_offline_logs")}
        journaled = Journal(store).query(platform="dudu", operation="card_check_log", limit=None)
    finally:
        store.close()
    assert after_kill >= 300 and len(acknowledged) >= 600
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged logs lost"
    assert len(journaled) >= len(acknowledged)
