"""The CLI as a user drives it: enrolment files, the code service, decisions and rules listings, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


# -- no command shows a traceback: bad input is one line and exit 2, and a failed set-up leaves nothing behind ----------


def _leaves(group: Any, path: list[str]) -> Any:
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _leaves(command, [*path, name])
        elif command is not None:
            yield [*path, name], command


def _args_for(command: Any, tmp_path: Path) -> list[str]:
    import click

    args: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        if isinstance(param.type, click.Choice):
            value = str(param.type.choices[0])
        elif isinstance(param.type, click.Path):
            value = str(tmp_path / "out")
        elif isinstance(param.type, click.types.IntParamType):
            value = "1"
        else:
            value = "http://127.0.0.1:9/" if param.name in ("target", "url", "base_url") else "x"
        if isinstance(param, click.Argument):
            args.extend([value] * (1 if param.nargs == 1 else 1))
        else:
            args.extend([param.opts[0], value])
    return args


def _one_line_exit_2(result: Any) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("harness: "), result.stderr


def test_every_command_with_an_unusable_store_says_so_in_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, " * 200)
    seen = 0
    for path, command in _leaves(main, []):
        if not any(p.name == "db" for p in command.params):
            continue
        result = CliRunner().invoke(main, [*path, *_args_for(command, tmp_path), "--db", str(garbage)])
        assert "Traceback" not in result.output, (path, result.output)
        if path[0] == "certify":  # a certify run reports the broken run in its report and verdict lines, exit 2
            assert result.exit_code == 2 and "cannot open store" in result.stderr, (path, result.output)
        else:
            _one_line_exit_2(result)
        seen += 1
    assert seen >= 20


def test_every_command_refuses_bad_options_with_exit_2(tmp_path: Path) -> None:
    for path, _command in _leaves(main, []):
        result = CliRunner().invoke(main, [*path, "--no-such-option"])
        assert result.exit_code == 2 and "Traceback" not in result.output, (path, result.output)


def test_a_store_that_is_a_directory_or_unwritable_is_one_line(tmp_path: Path) -> None:
    _one_line_exit_2(CliRunner().invoke(main, ["vendor", "list", "--db", str(tmp_path)]))
    _one_line_exit_2(CliRunner().invoke(main, ["journal", "--db", "/proc/harness/h.db"]))


def test_enterprise_add_twice_and_fleet_on_it_fail_cleanly_and_leave_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    runner = CliRunner()
    assert runner.invoke(main, ["dudu", "enterprise-add", "398", "--db", db]).exit_code == 0
    _one_line_exit_2(runner.invoke(main, ["dudu", "enterprise-add", "398", "--db", db]))
    failed = runner.invoke(main, ["dudu", "fleet", "398", "--devices", "3", "--cards", "2", "--db", db])
    _one_line_exit_2(failed)
    assert "398" in failed.stderr and "already exists" in failed.stderr
    store = open_store(db)
    assert store.query("SELECT id FROM dudu_lines") == [] and store.query("SELECT id FROM dudu_devices") == []
    assert store.query_one("SELECT COUNT(*) FROM dudu_cards")[0] == 0
    ok = runner.invoke(main, ["dudu", "fleet", "399", "--devices", "3", "--cards", "2", "--db", db])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["devices"] == 3
    _one_line_exit_2(runner.invoke(main, ["dudu", "fleet", "399", "--db", db]))  # a rerun is refused, not half-done
    _one_line_exit_2(runner.invoke(main, ["dudu", "fleet", "400", "--line", "L1", "--db", db]))  # L1 is 399's line
    assert store.query_one("SELECT id FROM dudu_enterprises WHERE id = '400'") is None


def test_vendor_add_twice_is_refused_and_keeps_the_first_files(tmp_path: Path) -> None:
    db, out = str(tmp_path / "h.db"), tmp_path / "v"
    runner = CliRunner()
    assert runner.invoke(main, ["vendor", "add", "yxc", "--platnum", "A0001", "--out", str(out), "--db", db]).exit_code == 0
    first = (out / "yxc-A0001.key.pem").read_bytes()
    _one_line_exit_2(runner.invoke(main, ["vendor", "add", "yxc", "--platnum", "A0001", "--out", str(out), "--db", db]))
    _one_line_exit_2(runner.invoke(main, ["vendor", "add", "yxc", "--platnum", "A0001", "--out", str(tmp_path / "w"), "--db", db]))
    assert (out / "yxc-A0001.key.pem").read_bytes() == first and not (tmp_path / "w").exists()
    assert len(runner.invoke(main, ["vendor", "list", "--db", db]).stdout.splitlines()) == 1
    assert (out / "yxc-A0001.key.pem").stat().st_mode & 0o077 == 0


def test_zjpx_account_twice_is_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    args = ["zjpx", "account", "add", "--account", "平台", "--password", "pw-123456", "--db", db]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    _one_line_exit_2(CliRunner().invoke(main, args))


def test_issue_code_refuses_a_lifetime_it_cannot_honour_and_an_unwritable_code_out(tmp_path: Path) -> None:
    """--ttl 0 was read as "the default" (12 h) and --ttl -5 issued a code already expired; a --code-out that cannot be
    written was refused only after the code was stored."""
    db = str(tmp_path / "h.db")
    runner = CliRunner()
    base = ["yxc", "issue-code", "--stunum", "S000000000000001", "--db", db]
    for ttl in ("0", "-5", "604801"):
        result = runner.invoke(main, [*base, "--ttl", ttl])
        assert result.exit_code == 2 and "--ttl" in result.output, (ttl, result.output)
    _one_line_exit_2(runner.invoke(main, [*base, "--code-out", str(tmp_path / "missing" / "code.txt")]))
    assert runner.invoke(main, [*base, "--code-out", str(tmp_path)]).exit_code == 2  # a directory: click's own refusal
    assert open_store(db).query_one("SELECT COUNT(*) FROM yxc_codes")[0] == 0
    assert runner.invoke(main, [*base, "--ttl", "60", "--code-out", str(tmp_path / "code.txt")]).exit_code == 0
    assert (tmp_path / "code.txt").read_text().strip() and open_store(db).query_one("SELECT COUNT(*) FROM yxc_codes")[0] == 1


def test_a_platform_filter_names_a_platform() -> None:
    """`decisions --platform foo` printed every decision and `vendor list --platform foo` nothing, both with exit 0."""
    runner = CliRunner()
    for args in (["decisions", "--platform", "foo"], ["vendor", "list", "--platform", "foo"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2 and "'foo' is not" in result.output, (args, result.output)
    assert "D-DUDU-" in runner.invoke(main, ["decisions", "--platform", "dudu"]).stdout


def test_dudu_ids_and_check_window_a_device_could_never_match_are_refused(tmp_path: Path) -> None:
    """An empty enterprise, line or device id, a check window of 25:00, a device on a line the store does not hold
    (a FOREIGN KEY message saying "already exists") were stored, or refused misleadingly."""
    db = str(tmp_path / "h.db")
    runner = CliRunner()
    assert runner.invoke(main, ["dudu", "enterprise-add", "398", "--db", db]).exit_code == 0
    assert runner.invoke(main, ["dudu", "line-add", "398", "L1", "--db", db]).exit_code == 0
    for args, said in (
        (["enterprise-add", ""], "enterprise id"),
        (["enterprise-add", "E" * 33], "enterprise id"),
        (["enterprise-add", "399", "--check-start", "25:00"], "HH:MM:SS"),
        (["enterprise-set", "398", "--check-end", "9:00"], "HH:MM:SS"),
        (["line-add", "398", ""], "line id"),
        (["device-add", "398", ""], "device id"),
        (["device-add", "398", " DEV1"], "device id"),
        (["device-add", "398", "DEV1", "--line", "nope"], "no line nope"),
        (["card", "398", ""], "card number"),
        (["line-card", "L1", "1" * 33], "card number"),
        (["fleet", "400", "--prefix", "", "--line", "L4", "--devices", "2"], None),  # DEV-less ids are fine: 00001 …
        (["fleet", "401", "--line", ""], "line id"),
    ):
        result = runner.invoke(main, ["dudu", *args, "--db", db])
        if said is None:
            assert result.exit_code == 0, result.output
            continue
        _one_line_exit_2(result)
        assert said in result.stderr, (args, result.stderr)
    store = open_store(db)
    assert [r["id"] for r in store.query("SELECT id FROM dudu_enterprises ORDER BY id")] == ["398", "400"]
    assert [r["id"] for r in store.query("SELECT id FROM dudu_lines WHERE enterprise_id = '398'")] == ["L1"]
    assert store.query("SELECT id FROM dudu_devices WHERE enterprise_id = '398'") == []
    assert store.query_one("SELECT COUNT(*) FROM dudu_line_cards WHERE line_id = 'L1'")[0] == 0


def test_reading_commands_refuse_a_store_that_does_not_exist_and_create_none(tmp_path) -> None:
    """journal, certify sessions and certify finish read what a store holds: a mistyped --db is one line and exit 2,
    and leaves no empty store (nor a report folder) behind."""
    from click.testing import CliRunner

    from harness.cli import main

    typo = tmp_path / "harnes.db"
    for args in (["journal"], ["certify", "sessions"], ["certify", "finish", "abc", "--report", str(tmp_path / "out")]):
        result = CliRunner().invoke(main, [*args, "--db", str(typo)])
        assert result.exit_code == 2 and f"no store at {typo}" in result.output, (args, result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
