"""loadtests/zjpx_learners.py runs headless against `harness serve` and passes its thresholds (Locust as a subprocess
with a time limit: importing locust here would monkey-patch this process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fixtures.zjpx import ZjpxData
from harness.schema import open_store
from harness.zjpx import accounts
from harness.zjpx.platform import file_class

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_learners_load_run_passes_thresholds(tmp_path: Path) -> None:
    db = tmp_path / "load.db"
    store = open_store(db)
    account = accounts.add_account(store, "load", "pw-load", "负载测试平台")
    intake = ZjpxData(31).class_intake(students=4, video_on_hook=2, trigger_type=1, trigger_value=2, video_start_face=1)
    file_class(store, account.platform_code, intake, int(time.time() * 1000))
    store.close()
    class_file = tmp_path / "class.json"
    class_file.write_text(json.dumps(intake, ensure_ascii=False), encoding="utf-8")
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "harness"), "serve", "--port", str(port), "--db", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_harness/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        env = dict(os.environ, ZJPX_ACCOUNT="load", ZJPX_PASSWORD="pw-load", ZJPX_CLASS_FILE=str(class_file))
        run = subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "loadtests" / "zjpx_learners.py"),
                "--headless",
                "-u",
                "4",
                "-r",
                "4",
                "-t",
                "6s",
                "-H",
                f"http://127.0.0.1:{port}/zjpx",
                "--only-summary",
                "--stop-timeout",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
        output = run.stdout + run.stderr
        assert "zjpx thresholds:" in output and "-> PASS" in output, output[-3000:]
        assert run.returncode == 0, output[-3000:]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
