"""Smoke test: loadtests/dudu_fleet.py runs headless as a subprocess (Locust must not be imported in pytest) against a
`harness serve` the test starts, and its verdict catches a backend that drops an offline log."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from serve_fleet(tmp_path)


def serve_fleet(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A 20-device fleet of enterprise 398 (heartbeat interval 1 s) and a `harness serve` on a free port."""
    db = tmp_path / "fleet.db"
    env = {**os.environ, "HARNESS_DB": str(db)}
    harness = str(BIN / "harness")
    subprocess.run(
        [harness, "dudu", "fleet", "398", "--devices", "20", "--cards", "100"], check=True, env=env, capture_output=True
    )  # no --secret here and no --dudu-secret below: the two defaults must agree (the command passes neither)
    subprocess.run([harness, "dudu", "enterprise-set", "398", "--interval", "1"], check=True, env=env)
    port = _free_port()
    proc = subprocess.Popen([harness, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", db
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _locust(host: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(locust_command(host, *extra), capture_output=True, text=True, timeout=45, cwd=ROOT)


def locust_command(host: str, *extra: str) -> list[str]:
    """The headless Locust fleet run these tests share (10 devices, 8 s; ``extra`` overrides)."""
    return [
        str(BIN / "locust"),
        "-f",
        str(ROOT / "loadtests" / "dudu_fleet.py"),
        "--headless",
        "-u",
        "10",
        "-r",
        "10",
        "-t",
        "8s",
        "--only-summary",
        "--host",
        host,
        "--dudu-swipes-per-min",
        "40",
        "--dudu-scans-per-min",
        "20",
        "--dudu-offline-per-hour",
        "900",
        "--dudu-offline-seconds",
        "2",
        *extra,
    ]


def test_fleet_passes_against_the_harness(server: tuple[str, Path]) -> None:
    result = _locust(server[0])
    out = result.stdout + result.stderr
    assert "DUDU fleet verdict (local): PASSED" in out, out[-3000:]
    assert result.returncode == 0
    logged = re.search(r"offline events never logged: 0 of (\d+)", out)
    assert logged and int(logged.group(1)) > 0  # the run really went offline and caught up


def test_fleet_fails_when_an_offline_log_is_dropped(server: tuple[str, Path]) -> None:
    result = _locust(server[0], "--dudu-drop-log", "1")
    out = result.stdout + result.stderr
    assert "DUDU fleet verdict (local): FAILED" in out, out[-3000:]
    assert "[FAIL] offline events never logged" in out and result.returncode == 1
    assert "[ok] error rate" in out  # the platform answered everything; only the accounting caught the gap


def test_a_device_without_a_token_never_sends_an_empty_one(server: tuple[str, Path]) -> None:
    """A refused get_token (wrong secret) must not turn into a cascade of token-less list requests (1001s): the device
    asks for a token again before its next token-bearing call instead (D-DUDU-TOKEN)."""
    import sqlite3

    result = _locust(server[0], "--dudu-secret", "wrong", "-t", "4s")
    out = result.stdout + result.stderr
    assert "DUDU fleet verdict (local): FAILED" in out and "[FAIL] error rate" in out, out[-3000:]
    with sqlite3.connect(server[1]) as conn:
        by_operation = dict(conn.execute("SELECT operation, COUNT(*) FROM journal GROUP BY operation").fetchall())
        codes = {c for (c,) in conn.execute("SELECT DISTINCT code FROM journal WHERE operation = 'get_token'")}
    assert by_operation.get("location_report", 0) > 0 and by_operation.get("get_token", 0) > 10  # asked again, not once
    assert codes == {"1005"}
    assert not {"get_card_list", "get_line_card_list", "get_qrcode_keys"} & set(by_operation), by_operation


def test_distributed_workers_simulate_distinct_devices(server: tuple[str, Path]) -> None:
    """A master with --expect-workers 2 and two workers, as the README runs them: the master's options replace the
    workers' own (a worker's --dudu-workers 2 arrives as the master's default), yet 10 users are 10 different devices,
    not 2 × 5 users sharing device ids (which their tokens, lists and offline sequence numbers would collide on)."""
    import sqlite3

    port = _free_port()
    worker = [str(BIN / "locust"), "-f", str(ROOT / "loadtests" / "dudu_fleet.py"), "--worker", "--master-port", str(port)]
    workers = [
        subprocess.Popen(worker + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        for extra in ([], ["--dudu-workers", "2"])
    ]
    try:
        result = _locust(server[0], "--master", "--expect-workers", "2", "--master-bind-port", str(port), "-t", "5s")
    finally:
        for proc in workers:
            proc.terminate()
            proc.wait(timeout=10)
    out = result.stdout + result.stderr
    assert "DUDU fleet verdict (master):" in out, out[-3000:]
    with sqlite3.connect(server[1]) as conn:
        asked = [json.loads(body)["req_id"] for (body,) in conn.execute("SELECT request_body FROM journal WHERE operation = 'get_token'")]
    assert len(asked) >= 10 and len(set(asked)) == 10, sorted(asked)


def test_a_second_run_continues_each_devices_offline_numbering(server: tuple[str, Path]) -> None:
    """A device keeps its offline numbering across restarts (D-DUDU-OFFLINE-SEQ); a second Locust run against the same
    store must not reuse the first run's numbers (refused 1007), nor inherit its misses. Starting from 1 instead
    (--dudu-seq-from one) is what the platform refuses."""
    import sqlite3

    relaxed = ("-t", "5s", "--dudu-max-p95", "10000")  # numbering is judged here, not latency (CI machines are busy)
    first = _locust(server[0], *relaxed)
    assert "DUDU fleet verdict (local): PASSED" in first.stdout + first.stderr, (first.stdout + first.stderr)[-3000:]
    with sqlite3.connect(server[1]) as conn:
        used = conn.execute("SELECT MAX(offline_seq) FROM dudu_devices").fetchone()[0]
    assert used and used > 0  # the first run numbered offline events
    second = _locust(server[0], *relaxed)
    out = second.stdout + second.stderr
    assert "DUDU fleet verdict (local): PASSED" in out and second.returncode == 0, out[-3000:]
    with sqlite3.connect(server[1]) as conn:
        refused = conn.execute("SELECT COUNT(*) FROM journal WHERE code = '1007'").fetchone()[0]
    assert refused == 0
    restarted = _locust(server[0], *relaxed, "--dudu-seq-from", "one")
    out = restarted.stdout + restarted.stderr
    assert "DUDU fleet verdict (local): FAILED" in out and "1007" in out, out[-3000:]


def test_the_control_api_says_where_each_devices_numbering_stands(server: tuple[str, Path]) -> None:
    import httpx

    devices = httpx.get(f"{server[0]}/_harness/dudu/devices", params={"enterprise_id": "398"}).json()["devices"]
    assert len(devices) == 20 and {d["offline_seq"] for d in devices} == {0}
    assert httpx.get(f"{server[0]}/_harness/dudu/devices", params={"enterprise_id": "nope"}).json() == {"devices": []}
    assert httpx.get(f"{server[0]}/_harness/dudu/devices").status_code == 400  # enterprise_id is required
