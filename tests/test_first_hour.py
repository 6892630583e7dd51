"""What a new user meets in the first hour, outside the README walk-through: each test failed before its fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def test_schemathesis_without_a_vendor_key_says_so_in_one_line(tmp_path) -> None:
    """Without HARNESS_VENDOR_DIR the run stops before any case, naming the variable (not "Token fetch failed")."""
    run = subprocess.run(
        [str(BIN / "schemathesis"), "run", "specs/yxc/province.yaml", "--url", "http://127.0.0.1:9/yxc", "--max-examples", "1"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "harness.fuzz needs an enrolled vendor key: set HARNESS_VENDOR_DIR" in output
    assert "Token fetch failed" not in output and "Traceback" not in output
    # A folder with no key in it is named as well.
    run = subprocess.run(
        [str(BIN / "schemathesis"), "run", "specs/yxc/province.yaml", "--url", "http://127.0.0.1:9/yxc", "--max-examples", "1"],
        cwd=ROOT,
        env=_env(HARNESS_VENDOR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and f"harness.fuzz: no *.key.pem in {tmp_path}" in run.stdout + run.stderr
