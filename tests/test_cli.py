"""The CLI as a user drives it: enrolment files, the code service, decisions and rules listings, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from harness.cli import main
from harness.pki import find_vendor
from harness.schema import open_store


def test_vendor_add_writes_loadable_files_and_prints_user(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    result = CliRunner().invoke(main, ["vendor", "add", "yxc", "--platnum", "A0001", "--out", str(tmp_path / "v"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    user = result.stdout.strip().splitlines()[-1]
    cert = x509.load_pem_x509_certificate((tmp_path / "v" / "yxc-A0001.cert.pem").read_bytes())
    assert user == format(cert.serial_number, "X")
    key, p12_cert, chain = pkcs12.load_key_and_certificates((tmp_path / "v" / "yxc-A0001.p12").read_bytes(), b"harness")
    assert key is not None and p12_cert == cert and len(chain) == 1
    ca = x509.load_pem_x509_certificate((tmp_path / "v" / "harness-ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert find_vendor(open_store(db), "yxc", user).platnum == "A0001"


def test_vendor_add_refuses_a_bad_platnum(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["vendor", "add", "yxc", "--platnum", "A1", "--out", str(tmp_path / "v"), "--db", str(tmp_path / "h.db")]
    )
    assert result.exit_code != 0


def test_harness_db_environment_is_honoured(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("HARNESS_DB", str(db))
    runner = CliRunner()
    assert runner.invoke(main, ["vendor", "add", "yxc", "--platnum", "A0002", "--out", str(tmp_path / "v")]).exit_code == 0
    listed = runner.invoke(main, ["vendor", "list"]).stdout
    assert "A0002" in listed and db.exists()


def test_issue_code_prints_the_mini_program_answer(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["yxc", "issue-code", "--stunum", "S000000000000001", "--db", str(tmp_path / "h.db")])
    answer = json.loads(result.stdout)
    assert set(answer) == {"code", "expirationtime", "stunum", "kind"} and len(answer["expirationtime"]) == 19


def test_decisions_and_rules_are_listed() -> None:
    runner = CliRunner()
    assert "D-YXC-SIGN" in runner.invoke(main, ["decisions", "--platform", "yxc"]).stdout
    rules = runner.invoke(main, ["rules", "yxc"]).stdout
    assert "YXC-CR-DURATION" in rules and "000 附件四 A.6.3.2" in rules
