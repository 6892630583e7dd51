"""The done-when's last step, as a new user runs it: enrol with `harness ymt`, open a certification session with
`harness certify start ymt-scene-client`, point the scene at the session's base path, and `harness certify finish`:
the conforming scene passes (exit 0); a copy that skips time freshness fails (exit 1), naming the clause."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from tests.ymt import world
from tests.ymt.scene_client import session


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(("defect", "exit_code"), [(None, 0), ("no-time-freshness", 1)])
def test_certify_ymt_scene_client_in_a_session(tolerant: Any, tmp_path: Path, defect: str | None, exit_code: int) -> None:
    client, store = tolerant
    db = str(store.path)
    merchant = json.loads(_cli("ymt", "merchant-add", "--out", str(tmp_path / "m"), "--fields", "concealName,userName", "--db", db).stdout)
    assert _cli("ymt", "device-add", merchant["merchantId"], world.MAC, "--db", db).exit_code == 0
    answers = tmp_path / "answers.jsonl"
    started = _cli("certify", "start", "ymt-scene-client", "--merchant", merchant["merchantId"], "--answers", str(answers), "--db", db)
    assert started.exit_code == 0, started.output
    sid = started.stdout.strip()

    def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return client.raw("POST", f"/_session/{sid}/ymt{path}", json=body).json()

    session(send, store, defect, answers, Path(merchant["config"]))
    finished = _cli("certify", "finish", sid, "--report", str(tmp_path / "report"), "--db", db, "--quiet")
    assert finished.exit_code == exit_code, finished.output
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == ("passed" if defect is None else "failed")
    statuses: dict[str, set[str]] = {}
    for check in report["checks"]:
        statuses.setdefault(check.get("check_id") or check.get("id"), set()).add(check["status"])
    if defect is None:
        assert not any(s & {"failed", "warning", "error"} for s in statuses.values()), statuses
    else:
        assert "failed" in statuses["YMT-CERT-TIME"] and "D-YMT-TIME-WINDOW" in json.dumps(report, ensure_ascii=False)
        # the evidence names the URL the scene called, session prefix included, not the operation's name
        urls = {e["request"]["url"] for c in report["checks"] for e in c["evidence"] if e.get("request")}
        assert f"/_session/{sid}/ymt/qrcode/decode" in urls and "/ymt/decode_qrcode" not in urls, urls
    assert world.ID_CARD not in json.dumps(report, ensure_ascii=False)


@pytest.mark.parametrize("faulted", [True, False])
def test_an_exchange_a_drill_fault_answered_is_not_graded(tolerant: Any, tmp_path: Path, faulted: bool) -> None:
    """A decode request sent again verbatim is a replay (001 表B.4 time; D-YMT-REPLAY) when the platform answered the
    first; when a drill fault answered in its place (harness faults, docs/faults.md) it is not graded at all."""
    from harness import faults

    client, store = tolerant
    db = str(store.path)
    merchant = json.loads(_cli("ymt", "merchant-add", "--out", str(tmp_path / "m"), "--fields", "concealName,userName", "--db", db).stdout)
    assert _cli("ymt", "device-add", merchant["merchantId"], world.MAC, "--db", db).exit_code == 0
    answers = tmp_path / "answers.jsonl"
    started = _cli("certify", "start", "ymt-scene-client", "--merchant", merchant["merchantId"], "--answers", str(answers), "--db", db)
    sid = started.stdout.strip()

    def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return client.raw("POST", f"/_session/{sid}/ymt{path}", json=body).json()

    session(send, store, None, answers, Path(merchant["config"]))
    last = next(
        e for e in client.app.state_journal.query(platform="ymt", operation="decode_qrcode", limit=20) if e["reply"]["code"] == "PY0000"
    )
    if faulted:
        rule = faults.add(store, "status", "ymt", operation="decode_qrcode")
    reply = client.raw(
        "POST", f"/_session/{sid}/ymt/qrcode/decode", content=last["request_body"].encode(), headers={"content-type": "application/json"}
    )
    if faulted:
        assert reply.status_code == 503
        faults.clear(store, [rule.id])
    finished = _cli("certify", "finish", sid, "--report", str(tmp_path / "report"), "--db", db, "--quiet")
    assert finished.exit_code == (0 if faulted else 1), finished.output


def test_a_relative_answers_path_is_kept_absolute_and_a_missing_log_is_exit_2(
    tolerant: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`certify start … --answers answers.jsonl` (relative, as the README writes it) names that file wherever `finish`
    runs; a log that cannot be read is the operator's error: the run ends with an error verdict (exit 2), the vendor is
    not failed for it."""
    client, store = tolerant
    db = str(store.path)
    merchant = json.loads(_cli("ymt", "merchant-add", "--out", str(tmp_path / "m"), "--fields", "concealName,userName", "--db", db).stdout)
    assert _cli("ymt", "device-add", merchant["merchantId"], world.MAC, "--db", db).exit_code == 0
    start_dir, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start_dir.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(start_dir)
    started = _cli("certify", "start", "ymt-scene-client", "--merchant", merchant["merchantId"], "--answers", "answers.jsonl", "--db", db)
    sid = started.stdout.strip()
    session(
        lambda path, body: client.raw("POST", f"/_session/{sid}/ymt{path}", json=body).json(),
        store,
        None,
        start_dir / "answers.jsonl",
        Path(merchant["config"]),
    )
    monkeypatch.chdir(elsewhere)
    finished = _cli("certify", "finish", sid, "--report", str(tmp_path / "report"), "--db", db, "--quiet")
    assert finished.exit_code == 0, finished.output
    from harness.conformance import sessions
    from harness.conformance.model import RunFinished
    from harness.ymt.certify import YmtSceneClientRole

    window = sessions.get(store, sid).window  # type: ignore[union-attr]
    events = list(YmtSceneClientRole(store, merchant["merchantId"], answers=tmp_path / "no-such-log.jsonl", window=window).run(seed=1))
    assert isinstance(events[-1], RunFinished) and events[-1].verdict == "error", events[-1]
    assert "answers log" in events[-1].reason
