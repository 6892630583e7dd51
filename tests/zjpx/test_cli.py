from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from harness.cli import main
from harness.schema import open_store
from harness.zjpx import accounts, state


def test_account_and_class_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    created = runner.invoke(main, ["zjpx", "account", "add", "--account", "vendor-a", "--password", "pw", "--db", db])
    assert created.exit_code == 0, created.output
    code = json.loads(created.output)["studyPlatformCode"]
    assert len(code) == 32
    listed = runner.invoke(main, ["zjpx", "account", "list", "--db", db])
    assert "vendor-a" in listed.output
    filed = runner.invoke(main, ["zjpx", "class", "add", "--platform-code", code, "--seed", "4", "--video-on-hook", "2", "--db", db])
    assert filed.exit_code == 0, filed.output
    intake = json.loads(filed.output)
    store = open_store(db)
    assert accounts.check_password(store, "vendor-a", "pw") is not None
    cls = state.get_class(store, code, intake["classCode"])
    assert cls is not None and state.class_config(cls)["videoOnHook"] == 2
    assert runner.invoke(main, ["zjpx", "rules"]).output.count("ZJPX-") >= 30
