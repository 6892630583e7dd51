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


def test_issue_code_writes_the_code_a_classrecord_carries(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from harness.cli import main

    db, out = tmp_path / "h.db", tmp_path / "logout.code"
    result = CliRunner().invoke(
        main, ["yxc", "issue-code", "--stunum", "S440100200001234", "--kind", "logout", "--code-out", str(out), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["kind"] == "logout" and out.read_text().strip() == printed["code"]
    bad = CliRunner().invoke(
        main, ["yxc", "issue-code", "--stunum", "S440100200001234", "--code-out", str(tmp_path / "no" / "x"), "--db", str(db)]
    )
    assert bad.exit_code == 2 and "harness: cannot write" in bad.output and "Traceback" not in bad.output


def test_the_example_client_requires_the_sign_out_code_a_practical_record_needs(capsys) -> None:
    import pytest

    from examples.yxc_vendor import client

    with pytest.raises(SystemExit) as stop:
        client.main(["--keys", "vendor/", "--platnum", "A0001", "--stunum", "S440100200001234", "--logininfo", "X"])
    assert stop.value.code == 2
    assert "--logoutinfo" in capsys.readouterr().err
