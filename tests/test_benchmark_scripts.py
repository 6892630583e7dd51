"""The heartbeat benchmarks run and print their tables (at a tiny size: the figures themselves are not judged here —
benchmarks print figures, tests do not time things)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wrk_heartbeat_prints_its_table() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed: apt-get install wrk to run benchmarks/wrk_heartbeat.py and this test")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "wrk_heartbeat.py"), "--rounds", "1", "--duration", "1", "--connections", "4"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| round | bare Starlette req/s | harness serve req/s | × bare |" in out.stdout
    assert "errors 0;" in out.stdout and "target (≥ 0.75 × bare" in out.stdout
