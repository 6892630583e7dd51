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
    learner = intake["thirdClassStudentInfoVoList"][0]
    assert "*" in learner["cardNo"] and "*" in learner["studentName"], learner  # the console never shows them in clear
    assert accounts.check_password(store, "vendor-a", "pw") is not None
    cls = state.get_class(store, code, intake["classCode"])
    assert cls is not None and state.class_config(cls)["videoOnHook"] == 2
    assert runner.invoke(main, ["zjpx", "rules"]).output.count("ZJPX-") >= 30


def test_bad_server_role_options_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """What no run could grade is refused before anything is sent: one line, exit 2, no report (never a verdict that
    fails a conforming vendor, as --page-size 0 or --students 0 would)."""
    db = str(tmp_path / "h.db")
    report = tmp_path / "report"
    base = ["certify", "zjpx-learning-platform-server", "--db", db, "--report", str(report)]
    for args, said in (
        (["--target", "http://127.0.0.1:9", "--page-size", "0"], "--page-size must be between 1 and 1000"),
        (["--target", "http://127.0.0.1:9", "--students", "0"], "--students must be between 1 and 500"),
        (["--target", "http://127.0.0.1:9", "--fuzz-examples", "-1"], "--fuzz-examples must be between 0"),
        (["--target", "notaurl"], "--target must be an http:// or https:// URL, not 'notaurl'"),
        (["--target", "http://127.0.0.1:9", "--ca-bundle", str(tmp_path / "none.pem")], "no such file"),
    ):
        result = CliRunner().invoke(main, [*base, *args])
        assert result.exit_code == 2, (args, result.output)
        assert result.output.strip().splitlines() == [result.output.strip()] and said in result.output, (args, result.output)
    assert not report.exists()


def test_an_unknown_platform_code_opens_no_session(tmp_path: Path) -> None:
    from harness.conformance import sessions

    db = str(tmp_path / "h.db")
    for role in ("zjpx-learning-platform-client", "zjpx-business-platform"):
        result = CliRunner().invoke(main, ["certify", "start", role, "--platform", "nosuch", "--db", db])
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert "no ZJPX learning-platform account with studyPlatformCode 'nosuch'" in result.output
        direct = CliRunner().invoke(main, ["certify", role, "--platform", "nosuch", "--db", db, "--report", str(tmp_path / "r")])
        assert direct.exit_code == 2 and "studyPlatformCode 'nosuch'" in direct.output, direct.output
    store = open_store(db)
    assert sessions.list_sessions(store) == []
    code = accounts.add_account(store, "vendor-b", "pw", "学习平台").platform_code
    store.close()
    started = CliRunner().invoke(main, ["certify", "start", "zjpx-business-platform", "--platform", code, "--db", db])
    assert started.exit_code == 0, started.output


def test_class_add_keeps_the_learners_in_full_only_in_the_out_file(tmp_path: Path) -> None:
    import os
    import stat

    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    code = json.loads(runner.invoke(main, ["zjpx", "account", "add", "--account", "v", "--password", "pw", "--db", db]).output)[
        "studyPlatformCode"
    ]
    out = tmp_path / "class.json"
    filed = runner.invoke(main, ["zjpx", "class", "add", "--platform-code", code, "--seed", "5", "--out", str(out), "--db", db])
    assert filed.exit_code == 0, filed.output
    full = json.loads(out.read_text(encoding="utf-8"))["thirdClassStudentInfoVoList"][0]
    shown = json.loads(filed.stdout)["thirdClassStudentInfoVoList"][0]
    assert "*" not in full["cardNo"] and len(full["cardNo"]) == 18 and full["cardNo"] not in filed.output
    assert full["studentName"] not in filed.output and shown["cardNo"] == full["cardNo"][:4] + "*" * 10 + full["cardNo"][-4:]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    clear = runner.invoke(main, ["zjpx", "class", "add", "--platform-code", code, "--seed", "6", "--show-personal-data", "--db", db])
    assert "*" not in json.loads(clear.stdout)["thirdClassStudentInfoVoList"][0]["cardNo"]
    bad = runner.invoke(
        main, ["zjpx", "class", "add", "--platform-code", code, "--seed", "7", "--out", str(tmp_path / "no" / "c.json"), "--db", db]
    )
    assert bad.exit_code == 2 and bad.output.startswith("harness: cannot write") and len(bad.output.strip().splitlines()) == 1


def test_a_server_that_hangs_up_ends_the_run_saying_no_check_was_graded(tmp_path: Path) -> None:
    """A target that accepts the connection and closes it unanswered: the run cannot go on (exit 2), and the verdict
    line says no check was graded, not a row of zero totals that contradicts it."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        result = CliRunner().invoke(
            main,
            ["certify", "zjpx-learning-platform-server", "--target", f"http://127.0.0.1:{port}", "--db", str(tmp_path / "h.db")]
            + ["--report", str(tmp_path / "out")],
        )
    finally:
        listener.close()
    assert result.exit_code == 2, result.output
    verdict = [line for line in result.output.splitlines() if line.startswith("verdict:")]
    assert verdict and "no check was graded" in verdict[0] and "0 passed" not in verdict[0], result.output


def test_class_add_and_account_add_refuse_what_no_call_could_match(tmp_path: Path) -> None:
    """A class filed for a studyPlatformCode no account has, with -1 students or 0 videos or a triggervValue of -1,
    and an account whose code breaks the spec's 32-hex pattern, were all stored with exit 0."""
    db = str(tmp_path / "h.db")
    runner = CliRunner()
    made = runner.invoke(main, ["zjpx", "account", "add", "--account", "a", "--password", "pw-1", "--db", db])
    code = json.loads(made.stdout)["studyPlatformCode"]
    out = tmp_path / "class.json"
    for args in (
        ["class", "add", "--platform-code", "f" * 32, "--out", str(out)],
        ["class", "add", "--platform-code", code, "--students", "-1"],
        ["class", "add", "--platform-code", code, "--videos", "0"],
        ["class", "add", "--platform-code", code, "--video-on-hook", "1", "--trigger-value", "-1"],
        ["account", "add", "--account", "b", "--password", "pw-2", "--platform-code", "short"],
    ):
        result = runner.invoke(main, ["zjpx", *args, "--db", db])
        assert result.exit_code == 2 and "Traceback" not in result.output, (args, result.output)
    assert not out.exists()
    store = open_store(db)
    assert store.query_one("SELECT COUNT(*) FROM zjpx_classes")[0] == 0
    assert store.query_one("SELECT COUNT(*) FROM zjpx_accounts")[0] == 1
