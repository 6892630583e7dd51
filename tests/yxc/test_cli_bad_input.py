"""Bad input to the YXC commands: one clear line, exit 2, no report, no traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from harness.cli import main


def test_a_qr_image_that_is_not_there_is_one_line_exit_2_and_no_report(tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["certify", "yxc-callback", "--qr", str(tmp_path / "missing.png"), "--report", str(report), "--db", str(tmp_path / "h.db")]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in result.output, result.output
    assert not report.exists()


def test_issue_code_refuses_a_stunum_that_is_not_f16(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    result = CliRunner().invoke(main, ["yxc", "issue-code", "--stunum", "SHORT", "--kind", "login", "--db", db])
    assert result.exit_code == 2 and "F16" in result.output and result.output.count("\n") == 1, result.output
    good = CliRunner().invoke(main, ["yxc", "issue-code", "--stunum", "S440106200129437", "--db", db])
    assert good.exit_code == 0 and '"stunum": "S440106200129437"' in good.output
