"""The DUDU outage drill (docs/faults.md): a Locust fleet (loadtests/dudu_fleet.py) runs through a `harness faults add
down` window against a real `harness serve`; no offline swipe is lost, and `dudu-device-backend` grades the recovery
(DUDU-CERT-OUTAGE, 003 §4.3/§5.4). The drill length is a parameter: HARNESS_DRILL_SECONDS (default 4 here; the drill
as specified runs 30)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.conformance.model import CheckFinished, CheckResult
from harness.dudu.certify import DuduDeviceBackendRole
from harness.schema import open_store
from tests.dudu.test_dudu_fleet import BIN, ROOT, locust_command, serve_fleet

DRILL_SECONDS = float(os.environ.get("HARNESS_DRILL_SECONDS", "4"))
LEAD_IN = 2.0  # seconds of normal service once every device has heartbeat, before the outage
RECOVERY = 5.0  # seconds the fleet runs after the outage


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from serve_fleet(tmp_path)


def _drill(
    server: tuple[str, Path], *extra: str, seconds: float = DRILL_SECONDS, recovery: float = RECOVERY
) -> tuple[str, dict[str, list[CheckResult]], int]:
    host, db = server
    env = {**os.environ, "HARNESS_DB": str(db)}
    run_for = f"{LEAD_IN + seconds + recovery + 2:.0f}s"  # + the devices' start
    # Every request the platform did not answer is a Locust failure, and the catch-up after it a burst: the error-rate and
    # p95 verdicts do not apply to a drill (it grades what is lost); the accounting verdict does.
    relaxed = ("--dudu-max-error-rate", "1", "--dudu-max-p95", "60000", "--dudu-offline-per-hour", "0")
    command = locust_command(host, "-t", run_for, *relaxed, *extra)
    fleet = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and fleet.poll() is None:  # the window opens once the fleet is running
            with sqlite3.connect(db) as conn:
                (beats,) = conn.execute(
                    "SELECT COUNT(DISTINCT json_extract(CAST(request_body AS TEXT), '$.device_id')) FROM journal"
                    " WHERE operation = 'location_report' AND code = '0'"
                ).fetchone()
            if beats >= 10:  # every device is up
                break
            time.sleep(0.2)
        window = ["faults", "add", "down", "--platform", "dudu", "--start-in", str(LEAD_IN), "--duration", str(seconds)]
        subprocess.run([str(BIN / "harness"), *window], check=True, env=env, capture_output=True)
        out, _ = fleet.communicate(timeout=60)
    finally:
        if fleet.poll() is None:
            fleet.kill()
    store = open_store(db)
    try:
        results: dict[str, list[CheckResult]] = {}
        for event in DuduDeviceBackendRole(store, "398").run(seed=1):
            if isinstance(event, CheckFinished):
                results.setdefault(event.result.check_id, []).append(event.result)
        denied = store.query_one("SELECT COUNT(*) AS n FROM journal WHERE fault = 'down#1'")["n"]
    finally:
        store.close()
    return out, results, denied


def _statuses(results: dict[str, list[CheckResult]], check_id: str) -> list[Any]:
    return [(r.status, r.message) for r in results.get(check_id, [])]


def test_a_fleet_rides_out_a_down_window_and_loses_no_offline_swipe(server: tuple[str, Path]) -> None:
    out, results, denied = _drill(server)
    assert "DUDU fleet verdict (local): PASSED" in out, out[-3000:]
    logged = re.search(r"offline events never logged: 0 of (\d+)", out)
    assert logged and int(logged.group(1)) > 0, out[-3000:]  # swipes were made during the outage, and all logged
    assert denied > 0  # the window really took the platform down
    outage = results["DUDU-CERT-OUTAGE"]
    assert [r.status for r in outage] == ["passed"], _statuses(results, "DUDU-CERT-OUTAGE")
    assert "down#1" in outage[0].message
    assert [r.status for r in results["DUDU-CERT-OFFLINE"]] == ["passed"], _statuses(results, "DUDU-CERT-OFFLINE")
    failing = {check: _statuses(results, check) for check, rs in results.items() if any(r.status == "failed" for r in rs)}
    assert not failing, failing  # the whole role passes: the outage was the harness's doing, and the fleet recovered


def test_a_fleet_that_forgets_unanswered_swipes_is_warned_by_the_outage_check(server: tuple[str, Path]) -> None:
    out, results, denied = _drill(server, "--dudu-drop-outage", seconds=2, recovery=2)  # a few lost swipes suffice
    assert denied > 0
    outage = results["DUDU-CERT-OUTAGE"]
    assert any(r.status == "warning" and r.clause and r.clause.startswith("003") for r in outage), _statuses(results, "DUDU-CERT-OUTAGE")
    # Locust's own accounting cannot see a swipe that was never numbered: only the journal-graded check does.
    assert "offline events never logged: 0 of" in out, out[-3000:]
