"""The ymt-emergency-verifier defect table (examples/defects/ymt-emergency-verifier.yaml): the conforming verifier
(`python -m harness.ymt.verify_emergency {file}`) gets every vector right; each defective verifier of
tests/ymt/emergency_verifier_double.py makes exactly the checks its row lists FAILED, naming their clause."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.conformance.model import CheckFinished, CheckResult, RunFinished
from harness.conformance.roles import role_class
from harness.errors import ConfigError
from harness.ymt import emergency_role, verify_emergency
from harness.ymt.emergency_role import EmergencyVerifierRole
from tests.ymt.emergency_verifier_double import MODES

ROOT = Path(__file__).resolve().parents[2]
TABLE = yaml.safe_load((ROOT / "examples" / "defects" / "ymt-emergency-verifier.yaml").read_text(encoding="utf-8"))
ROWS = TABLE["defects"]
PYTHON = shlex.quote(sys.executable)
CONFORMING = f"{PYTHON} -m harness.ymt.verify_emergency {{file}}"
DOUBLE = f"{PYTHON} {shlex.quote(str(ROOT / 'tests' / 'ymt' / 'emergency_verifier_double.py'))}"
# The two verifiers that read nothing are plain shell commands (no interpreter to start for every vector).
SHELL = {"accept-everything": "sh -c 'exit 0' {file}", "reject-everything": "sh -c 'echo refused; exit 1' {file}"}


def _grade(command: str) -> tuple[str, list[CheckResult]]:
    events = list(EmergencyVerifierRole(command).run(seed=1))
    assert isinstance(events[-1], RunFinished)
    return events[-1].verdict, [e.result for e in events if isinstance(e, CheckFinished)]


def test_the_conforming_verifier_passes() -> None:
    verdict, results = _grade(CONFORMING)
    assert verdict == "passed", [(r.check_id, r.status, r.message) for r in results if r.status not in ("passed", "review")]
    checks = role_class(TABLE["role"]).checks
    assert {r.check_id for r in results if r.status == "passed"} == {c.id for c in checks if c.level in ("MUST", "SHOULD")}
    reasons = [r for r in results if r.check_id == "YMT-EV-REASONS"]
    assert [r.status for r in reasons] == ["review"]
    # the verifier's own words are the evidence: each refusal names its stage
    notes = " ".join(e.note for e in reasons[0].evidence)
    for stage in ("bad-prefix", "bad-base45", "bad-zlib", "bad-signature", "unknown-kid", "not-yet-valid", "expired"):
        assert f"refused: {stage}" in notes, stage


def test_every_vector_has_its_check_and_every_check_its_vector() -> None:
    vectors = emergency_role.load_vectors()
    checks = {c.id for c in role_class(TABLE["role"]).checks if c.level != "REVIEW"}
    assert {v.check for v in vectors} == checks
    assert [v.name for v in vectors if v.expect == "accept"] == ["valid", "valid-last-second", "valid-inside-leeway"]
    derived = {
        "valid-last-second",
        "valid-inside-leeway",
        "clock-hour-before-issue",
        "trust-list-forged",
        "trust-list-expired",
        "not-emergency",
        "trust-list-kid-mismatch",
    }
    fixture = {v.name for v in vectors} - derived
    assert fixture == {case["NAME"] for case in json.loads(emergency_role.VECTORS.read_text(encoding="utf-8"))["emergency"]["cases"]}
    assert {row["name"] for row in ROWS} == set(MODES)
    # the file a verifier reads carries no expected answer
    assert set(vectors[0].document) == {"code", "trustList", "trustAnchor", "validationClock", "validationClockEpoch"}


def test_a_command_without_its_placeholder_is_refused() -> None:
    with pytest.raises(ConfigError, match="file"):
        EmergencyVerifierRole("myverify")
    with pytest.raises(ConfigError, match="split"):
        EmergencyVerifierRole("verify '{file}")


def test_a_verifier_that_cannot_run_is_no_verdict(tmp_path: Path) -> None:
    """A program that does not exist, is not executable, or that the shell cannot run (126, 127) is a run that could
    not run: one clear line and exit 2 from the CLI, no report claiming the verifier refused the valid code; a command
    that starts but then cannot run on any vector ends with verdict error, not failed."""
    from click.testing import CliRunner

    from harness.cli import main

    with pytest.raises(ConfigError, match="does not exist"):
        EmergencyVerifierRole("/nonexistent/verifier {file}")
    with pytest.raises(ConfigError, match="not executable"):
        EmergencyVerifierRole(f"{tmp_path} {{file}}")
    with pytest.raises(ConfigError, match="on PATH"):
        EmergencyVerifierRole("no-such-verifier-program {file}")
    for command, says in (
        ("/nonexistent/bin {file}", "the program /nonexistent/bin does not exist"),
        ("sh -c 'exit 127' {file}", "cannot run: it exited 127"),
    ):
        report = tmp_path / "report"
        out = CliRunner().invoke(
            main, ["certify", "ymt-emergency-verifier", "--command", command, "--report", str(report), "--db", str(tmp_path / "h.db")]
        )
        assert out.exit_code == 2, out.output
        lines = [line for line in out.output.splitlines() if line.strip()]
        assert len(lines) == 1 and says in lines[0] and "Traceback" not in out.output, out.output
        assert not report.exists()
    verdict, results = _grade("sh -c 'echo not found; exit 127' {file}")
    assert verdict == "error" and not [r for r in results if r.status == "failed"]


def test_a_verifier_that_does_not_answer_in_time_is_graded_in_words(tmp_path: Path) -> None:
    vector = [v for v in emergency_role.load_vectors() if v.name == "valid"]
    graded = emergency_role.grade("sh -c 'sleep 5' {file}", tmp_path, timeout=0.2, vectors=vector)
    note = graded.outcomes[0].evidence().note
    assert note.endswith("expected accept; the verifier gave no answer within 0 s"), note
    assert graded.cannot_run is None  # it ran, it did not answer: a refusal, graded


def test_a_leeway_vector_that_timed_out_is_not_called_a_clock_rule() -> None:
    """A verifier that answers every vector but the one 60 s before issue in time: YMT-EV-LEEWAY warns that it gave no
    answer, never that "the verifier allows no clock skew" (it may well allow it; it was slow)."""
    slow = (
        f'sh -c \'case "$0" in *valid-inside-leeway*) exec sleep 30;; esac; exec {PYTHON} -m harness.ymt.verify_emergency "$0"\' {{file}}'
    )
    events = list(EmergencyVerifierRole(slow, timeout=10).run(seed=1))
    leeway = [e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "YMT-EV-LEEWAY"]
    assert [r.status for r in leeway] == ["warning"]
    assert "no answer in time" in leeway[0].message and "allows no clock skew" not in leeway[0].message, leeway[0].message
    assert "gave no answer within 10 s" in leeway[0].evidence[0].note


def test_the_reference_verifier_refuses_a_file_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json", encoding="utf-8")
    assert verify_emergency.main([str(bad)]) == verify_emergency.UNREADABLE
    bad.write_text(json.dumps({"code": "YMT1:", "trustList": {}, "trustAnchor": "x", "validationClockEpoch": "soon"}), encoding="utf-8")
    assert verify_emergency.main([str(bad)]) == verify_emergency.UNREADABLE
    bad.write_text(json.dumps({"code": "YMT1:", "trustList": {}, "trustAnchor": "x", "validationClockEpoch": 1}), encoding="utf-8")
    assert verify_emergency.main([str(bad)]) == verify_emergency.REFUSED
    assert verify_emergency.main([]) == verify_emergency.UNREADABLE


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_each_defect_fails_its_checks_naming_the_clause(row: dict[str, Any]) -> None:
    verdict, results = _grade(SHELL.get(row["name"]) or f"{DOUBLE} {row['name']} {{file}}")
    checks = role_class(TABLE["role"]).checks
    for check_id in row["fails"]:
        wanted = "failed" if checks.get(check_id).level == "MUST" else "warning"
        mine = [r for r in results if r.check_id == check_id]
        assert any(r.status == wanted for r in mine), (check_id, [(r.status, r.message) for r in mine])
        assert all(r.clause.startswith("001 §3") and "D-YMT-EMERGENCY" in r.clause for r in mine)
    others = [(r.check_id, r.status) for r in results if r.status in ("failed", "warning") and r.check_id not in row["fails"]]
    assert not others, f"{row['name']} also broke {others}"
    for r in results:  # a warning from a decision names it (the leeway is D-YMT-EMERGENCY's iat − 60 s ≤ clock)
        assert r.status != "warning" or r.decision == "D-YMT-EMERGENCY", (r.check_id, r.message)
    assert verdict == ("failed" if any(checks.get(c).level == "MUST" for c in row["fails"]) else "passed")


def test_a_fresh_code_of_the_stores_own_platform_joins_the_valid_vectors(tmp_path: Path) -> None:
    from harness.schema import open_store
    from harness.ymt import admin

    store = open_store(tmp_path / "h.db")
    try:
        assert emergency_role.from_store(store) is None  # no platform keys yet, and none made here
        admin.platform_keys(store)
        own = emergency_role.from_store(store)
    finally:
        store.close()
    assert own is not None and own.expect == "accept" and own.check == "YMT-EV-VALID"
    assert "11010519491231002X" not in json.dumps(own.document)  # the code carries masked values only
    events = list(EmergencyVerifierRole(CONFORMING, extra=(own,)).run(seed=1))
    valid = [e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "YMT-EV-VALID"]
    assert valid[0].status == "passed" and "platform-code" in valid[0].message, valid


def test_a_command_naming_its_script_relative_to_the_current_directory_runs_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python tests/ymt/emergency_verifier_double.py MODE {file}` from the repository root finds its script, as in a
    shell: the vectors run in the directory the role was started from, the vector files are absolute paths."""
    monkeypatch.chdir(ROOT)
    verdict, results = _grade(f"{PYTHON} tests/ymt/emergency_verifier_double.py ignores-expiry {{file}}")
    failed = {r.check_id for r in results if r.status == "failed"}
    assert verdict == "failed" and failed == {"YMT-EV-EXPIRED"}, failed  # the defect, not a script that was not found
    assert all(r.status != "failed" for r in results if r.check_id == "YMT-EV-VALID"), results
