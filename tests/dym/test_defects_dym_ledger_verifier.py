"""The dym-ledger-verifier defect table (examples/defects/dym-ledger-verifier.yaml): `harness ledger verify` (the
conforming verifier) gets every drill right; each defective verifier of tests/dym/ledger_verifier_double.py makes exactly
the checks its row lists FAILED (MUST) or WARNING (SHOULD), naming their clause."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.conformance.model import CheckFinished, CheckResult, RunFinished
from harness.conformance.roles import role_class
from harness.dym import ledger_drills
from harness.dym.ledger_role import LedgerVerifierRole
from harness.errors import ConfigError
from tests.dym.conftest import DRIVER_A, World
from tests.dym.ledger_verifier_double import MODES

ROOT = Path(__file__).resolve().parents[2]
TABLE = yaml.safe_load((ROOT / "examples" / "defects" / "dym-ledger-verifier.yaml").read_text(encoding="utf-8"))
ROWS = TABLE["defects"]
HARNESS = shlex.quote(str(Path(sys.executable).parent / "harness"))
CONFORMING = f"{HARNESS} ledger verify {{receipt}} --entry {{entry}} --key {{key}}"
DOUBLE = f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'tests' / 'dym' / 'ledger_verifier_double.py'))}"
# The two verifiers that read nothing are plain shell commands (no interpreter to start for every drill).
SHELL = {"accept-all": "sh -c 'exit 0' {receipt} {entry}", "reject-all": "sh -c 'echo refused; exit 1' {receipt} {entry}"}


def _grade(command: str) -> tuple[str, list[CheckResult]]:
    events = list(LedgerVerifierRole(command).run(seed=1))
    assert isinstance(events[-1], RunFinished)
    return events[-1].verdict, [e.result for e in events if isinstance(e, CheckFinished)]


def test_the_conforming_verifier_passes() -> None:
    verdict, results = _grade(CONFORMING)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status not in ("passed", "review")]
    graded = {r.check_id for r in results if r.status == "passed"}
    checks = role_class(TABLE["role"]).checks
    assert graded == {c.id for c in checks if c.level in ("MUST", "SHOULD")}
    assert [r.status for r in results if r.check_id == "DYM-LV-REASONS"] == ["review"]


def test_every_drill_of_the_ledger_is_built_and_each_check_has_drills(tmp_path: Path) -> None:
    kit = ledger_drills.build(tmp_path)
    checks = {c.id for c in role_class(TABLE["role"]).checks if c.level != "REVIEW"}
    assert {d.check for d in kit.drills} == checks
    assert {"truncated-proof", "rewritten-leaf", "forked-checkpoint", "wrong-origin", "unknown-key"} <= {d.name for d in kit.drills}
    assert {row["name"] for row in ROWS} == set(MODES)


def test_a_command_without_its_placeholders_is_refused() -> None:
    with pytest.raises(ConfigError, match="receipt"):
        LedgerVerifierRole("true")
    with pytest.raises(ConfigError, match="split"):
        LedgerVerifierRole("verify '{receipt} {entry}")


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_each_defect_fails_its_checks_naming_the_clause(row: dict[str, Any]) -> None:
    verdict, results = _grade(SHELL.get(row["name"]) or f"{DOUBLE} {row['name']} {{receipt}} {{entry}} {{key}}")
    checks = role_class(TABLE["role"]).checks
    for check_id in row["fails"]:
        wanted = "failed" if checks.get(check_id).level == "MUST" else "warning"
        mine = [r for r in results if r.check_id == check_id]
        assert any(r.status == wanted for r in mine), (check_id, [(r.status, r.message) for r in mine])
        assert all(r.clause.startswith("004 §一(四)2") for r in mine)
    others = [(r.check_id, r.status) for r in results if r.status in ("failed", "warning") and r.check_id not in row["fails"]]
    assert not others, f"{row['name']} also broke {others}"
    for r in results:  # a warning from a decision names it (the verification steps of D-DYM-LEDGER, docs/ledger.md)
        assert r.status != "warning" or r.decision == "D-DYM-LEDGER", (r.check_id, r.message)
    assert verdict == ("failed" if any(checks.get(c).level == "MUST" for c in row["fails"]) else "passed")


def test_a_receipt_of_the_stores_own_ledger_joins_the_valid_drills(world: World) -> None:
    claimed = world.enterprise.call("driver_claim", DRIVER_A)
    assert claimed["code"] == "0", claimed
    events = list(LedgerVerifierRole(CONFORMING, store=world.store).run(seed=1))
    accepts = [e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "DYM-LV-ACCEPTS"]
    assert accepts[0].status == "passed" and "store-receipt" in accepts[0].message, accepts
    # The drill carries the store's own key (the platform's ledger), not the drill log's.
    drill = ledger_drills.from_store(world.store, world.db.parent)
    assert drill is not None and drill.key_file is not None
    assert drill.key_file.read_text(encoding="utf-8").strip() == str(world.platform.ledger.verifier)


def test_a_verifier_that_cannot_run_is_no_verdict(tmp_path: Path) -> None:
    """A program that does not exist or that the shell cannot run (126, 127) is refused before any report (one line,
    exit 2); a command that starts but cannot run on any drill ends with verdict error, not failed."""
    from click.testing import CliRunner

    from harness.cli import main

    with pytest.raises(ConfigError, match="does not exist"):
        LedgerVerifierRole("/nonexistent/verifier {receipt} {entry}")
    report = tmp_path / "report"
    for command, says in (
        ("/nonexistent/bin {receipt} {entry} {key}", "the program /nonexistent/bin does not exist"),
        ("sh -c 'exit 127' {receipt} {entry}", "cannot run: it exited 127"),
    ):
        out = CliRunner().invoke(
            main, ["certify", "dym-ledger-verifier", "--command", command, "--report", str(report), "--db", str(tmp_path / "h.db")]
        )
        assert out.exit_code == 2 and says in out.output and len(out.output.strip().splitlines()) == 1, out.output
        assert not report.exists()
    verdict, results = _grade("sh -c 'exit 126' {receipt} {entry}")
    assert verdict == "error" and not [r for r in results if r.status == "failed"]


def test_a_verifier_that_refuses_everything_fails_once_and_proves_no_refusal() -> None:
    """A command that cannot verify anything (it exits 2 on every receipt) fails DYM-LV-ACCEPTS; its refusals of the
    tamper drills are not passes (skipped: nothing tells them from an inability to verify)."""
    verdict, results = _grade("sh -c 'echo bad input >&2; exit 2' {receipt} {entry} {key}")
    by_id = {r.check_id: r for r in results}
    assert verdict == "failed" and by_id["DYM-LV-ACCEPTS"].status == "failed"
    for check_id in ("DYM-LV-ENTRY", "DYM-LV-PROOF", "DYM-LV-SIGNATURE", "DYM-LV-ORIGIN", "DYM-LV-COSIGNED", "DYM-LV-CANONICAL"):
        assert by_id[check_id].status == "skipped", (check_id, by_id[check_id].message)


def test_a_verifier_that_never_answers_in_time_is_not_said_to_have_refused() -> None:
    """A verifier slower than --timeout on every drill: DYM-LV-ACCEPTS fails, and its message must not say the valid
    receipts were refused (the evidence says no answer came in time); a regulator read "a valid receipt refused"."""
    events = list(LedgerVerifierRole("sh -c 'sleep 3' {receipt} {entry}", timeout=1).run(seed=1))
    accepts = [e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "DYM-LV-ACCEPTS"]
    assert [r.status for r in accepts] == ["failed"], accepts
    assert "not answered within the time allowed" in accepts[0].message, accepts[0].message
    assert all("no answer within 1 s" in (ev.note or "") for ev in accepts[0].evidence), accepts[0].evidence
