"""The Locust files in loadtests/ as a performance tester meets them: a set-up step left out (no gate directory, no app
secret, no class file) is one line naming the step and exit 2 before any user starts, never a traceback per user; the
YMT gate runs headless against a `harness serve` set up as its docstring says and passes. Locust runs as a subprocess
(importing it here would monkey-patch this process)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UNREACHABLE = "http://127.0.0.1:1"  # a set-up error must be found before any request is sent
SETUP_ENV = ("DYM_SECRET", "DYM_DRIVER_SECRET", "DYM_APP_ID", "DYM_DRIVER_APP_ID", "ZJPX_ACCOUNT", "ZJPX_PASSWORD", "ZJPX_CLASS_FILE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _locust(file: str, host: str, *extra: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SETUP_ENV}
    cmd = [str(BIN / "locust"), "-f", str(ROOT / "loadtests" / file), "--headless", "-u", "2", "-r", "2", "-t", "3s"]
    cmd += ["--only-summary", "--stop-timeout", "1", "--host", host, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd, env={**clean, **(env or {})})


def _one_line(result: subprocess.CompletedProcess[str], prefix: str) -> str:
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-3000:]
    assert "Traceback" not in out and "verdict" not in out, out[-3000:]  # stopped before any user, so no verdict either
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, out[-3000:]
    return lines[0]


def test_the_ymt_gate_without_its_directory_says_to_run_gate_setup(tmp_path: Path) -> None:
    line = _one_line(_locust("ymt_gate.py", UNREACHABLE, "--ymt-dir", str(tmp_path / "gate")), "ymt_gate: ")
    assert "no merchant.json there" in line and f"harness ymt gate-setup --out {tmp_path / 'gate'}" in line, line


def test_the_ymt_gate_with_a_directory_that_is_not_a_gate_says_so(tmp_path: Path) -> None:
    (tmp_path / "merchant.json").write_text('{"merchantId": "M1"}', encoding="utf-8")
    line = _one_line(_locust("ymt_gate.py", UNREACHABLE, "--ymt-dir", str(tmp_path)), "ymt_gate: ")
    assert "merchant.json has no privateKeyFile" in line and "harness ymt gate-setup" in line, line


def test_the_dym_waybills_without_secrets_name_what_is_missing() -> None:
    apps = ("--dym-app-id", "LOADENT000000001", "--dym-driver-app-id", "LOADPLT000000001")
    line = _one_line(_locust("dym_waybills.py", UNREACHABLE, *apps), "dym_waybills: ")
    assert "--dym-secret ($DYM_SECRET)" in line and "--dym-driver-secret ($DYM_DRIVER_SECRET)" in line, line
    assert "--dym-app-id" not in line.split(":")[1] and "harness dym enterprise-add" in line, line


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "set ZJPX_ACCOUNT, ZJPX_PASSWORD, ZJPX_CLASS_FILE"),
        ({"ZJPX_ACCOUNT": "load", "ZJPX_PASSWORD": "pw", "ZJPX_CLASS_FILE": "no-such-class.json"}, "No such file or directory"),
        ({"ZJPX_ACCOUNT": "load", "ZJPX_PASSWORD": "pw", "ZJPX_CLASS_FILE": "account.json"}, "not a class of harness zjpx class add"),
    ],
)
def test_the_zjpx_learners_without_their_set_up_say_which_step(tmp_path: Path, env: dict[str, str], says: str) -> None:
    (tmp_path / "account.json").write_text('{"studyPlatformAcount": "load"}', encoding="utf-8")  # the other file of the two
    line = _one_line(_locust("zjpx_learners.py", UNREACHABLE + "/zjpx", env=env, cwd=tmp_path), "zjpx_learners: ")
    assert says in line, line


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`harness ymt gate-setup` (3 scanners, 30 people) and a `harness serve` on a free port, as the docstring says."""
    root = tmp_path_factory.mktemp("ymt-gate")
    env = {**os.environ, "HARNESS_DB": str(root / "store.db")}
    harness = str(BIN / "harness")
    made = subprocess.run(
        [harness, "ymt", "gate-setup", "--out", "gate/", "--devices", "3", "--people", "30"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0 and json.loads(made.stdout)["devices"] == 3, made.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [harness, "serve", "--port", str(port)], env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", root
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_ymt_gate_passes_against_the_harness(gate: tuple[str, Path]) -> None:
    url, root = gate
    result = _locust("ymt_gate.py", url, "--ymt-dir", "gate/", "--ymt-scanners", "2", "--ymt-scans-per-min", "120", cwd=root)
    out = result.stdout + result.stderr
    assert "YMT gate verdict (local): PASSED" in out and result.returncode == 0, out[-3000:]
    assert "[ok] answers decrypted to the person's identity: " in out and "Traceback" not in out, out[-3000:]


def _distributed(root: Path, url: str, *master_args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """A master with --expect-workers 2 and two workers started without any YMT option (the master's reach them)."""
    port = _free_port()
    logs = [root / f"worker-{n}.log" for n in range(2)]
    cmd = [str(BIN / "locust"), "-f", str(ROOT / "loadtests" / "ymt_gate.py"), "--worker", "--master-port", str(port)]
    workers = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=root) for log in logs]
    try:
        result = _locust("ymt_gate.py", url, "--master", "--expect-workers", "2", "--master-bind-port", str(port), *master_args, cwd=root)
    finally:
        for proc in workers:
            proc.terminate()
            proc.wait(timeout=10)
    return result, [log.read_text(encoding="utf-8") for log in logs]


def test_the_ymt_gate_runs_distributed_and_a_worker_without_the_gate_says_so_once(gate: tuple[str, Path]) -> None:
    url, root = gate
    result, _ = _distributed(root, url, "--ymt-dir", "gate/", "--ymt-scanners", "2", "--ymt-scans-per-min", "120")
    out = result.stdout + result.stderr
    assert "YMT gate verdict (master): PASSED" in out and result.returncode == 0, out[-3000:]
    result, logs = _distributed(root, url, "--ymt-dir", "no-gate/")
    out = result.stdout + result.stderr
    assert "YMT gate verdict (master): FAILED" in out and "(0 decodes)" in out, out[-3000:]
    for log in logs:  # each worker's users found no gate: one line per worker, no traceback per user
        assert log.count("ymt_gate: --ymt-dir no-gate/: no merchant.json there") == 1 and "Traceback" not in log, log[-3000:]
