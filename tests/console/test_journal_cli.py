"""``harness journal --follow`` and ``harness journal --har``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from harness.cli import main
from tests.console.conftest import Harness, make_harness
from tests.console.test_console_pages import assert_har


def test_har_export_of_a_vendors_exchanges(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    h.coach(drop="name")
    h.heartbeat()
    out = tmp_path / "vendor.har"
    result = CliRunner().invoke(main, ["journal", "--har", str(out), "--vendor", h.user, "--db", str(h.store.path)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert_har(document, vendor=h.user)
    entries = document["log"]["entries"]
    assert [e["_harness"]["id"] for e in entries] == sorted(e["_harness"]["id"] for e in entries)
    refused = [e for e in entries if e["_harness"]["outcome"] == "failed"]
    assert refused and "errorcode" in refused[0]["response"]["content"]["text"]
    assert any("sign=" in e["request"]["url"] and e["request"]["queryString"] for e in entries)
    bad = CliRunner().invoke(main, ["journal", "--har", str(tmp_path / "nowhere" / "x.har"), "--db", str(h.store.path)])
    assert bad.exit_code == 2 and "cannot write" in bad.output and "Traceback" not in bad.output
    both = CliRunner().invoke(main, ["journal", "--har", str(out), "--follow", "--db", str(h.store.path)])
    assert both.exit_code == 2 and "--follow" in both.output


def test_follow_prints_new_exchanges_and_ctrl_c_exits_0(harness: Harness) -> None:
    harness.heartbeat()  # before: not printed (follow starts from now, after the --limit newest)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "journal", "--follow", "--limit", "1", "--db", str(harness.store.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert "location_report" in first
        harness.coach(drop="name")
        deadline = time.monotonic() + 20
        line = ""
        while "coach" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "coach" in line and "failed" in line and "SCHEMA" in line
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
