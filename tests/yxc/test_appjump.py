"""APP → mini-program jump (000 附件三, 2.2 1)): the page contract, the 2-minute window, the answer, CLI and control API."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config import Settings
from harness.errors import ConfigError
from harness.schema import open_store
from harness.server import create_app
from harness.store import Store
from harness.yxc import appjump, codes

STUNUM = "S440100200001234"
PATH = "pages/soild/soild-sign-in?from=app&appName=%E7%B2%A4%E9%A9%BE%E5%AD%A6%E5%A0%82&responseType=code"


def test_conforming_jump_answers_with_a_stored_sign_in_code(store: Store) -> None:
    now = time.time()
    result = appjump.app_jump(store, PATH, STUNUM, int(now) - 60, opened_at=now)
    assert result.conforming, result.findings
    assert result.params["appName"] == "粤驾学堂"
    answer = result.answer
    assert answer is not None and set(answer) == {"code", "expirationtime", "stunum"}
    stored = codes.find(store, answer["code"])
    assert stored is not None and stored.kind == "login" and stored.stunum == STUNUM
    assert stored.expirationtime == answer["expirationtime"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (PATH, set()),
        ("pages/solid/solid-sign-in?from=app&appName=x&responseType=code", {"YXC-APP-PAGE"}),
        ("/" + PATH, {"YXC-APP-PAGE"}),
        ("pages/soild/soild-sign-in?from=app&appName=x", {"YXC-APP-RESPONSETYPE"}),
        ("pages/soild/soild-sign-in?from=app&appName=x&responseType=token", {"YXC-APP-RESPONSETYPE"}),
        ("pages/soild/soild-sign-in?from=APP&appName=x&responseType=code", {"YXC-APP-FROM"}),
        ("pages/soild/soild-sign-in?from=app&appName=&responseType=code", {"YXC-APP-APPNAME"}),
        ("pages/soild/soild-sign-in?from=app&responseType=code", {"YXC-APP-APPNAME"}),
        ("pages/soild/soild-sign-in?from=app&appname=x&responseType=code", {"YXC-APP-APPNAME", "YXC-APP-NO-EXTRA"}),
        (PATH + "&debug=1", {"YXC-APP-NO-EXTRA"}),
    ],
)
def test_page_contract(path: str, expected: set[str]) -> None:
    _, findings = appjump.parse_path(path)
    assert {f.requirement for f in findings} == expected
    assert all(f.clause.startswith("000 附件三") for f in findings)


def test_tolerant_profile_accepts_leading_slash_and_extra_parameters() -> None:
    _, findings = appjump.parse_path("/" + PATH + "&debug=1", profile="tolerant")
    assert findings == []


@pytest.mark.parametrize(
    ("elapsed", "profile", "ok"),
    [
        (0, "strict", True),
        (120, "strict", True),
        (121, "strict", False),
        (-5, "strict", True),
        (-6, "strict", False),
        (-30, "tolerant", True),
    ],
)
def test_two_minute_window_from_the_photo_check(store: Store, elapsed: int, profile: str, ok: bool) -> None:
    opened = 1_800_000_000
    result = appjump.app_jump(store, PATH, STUNUM, opened - elapsed, opened_at=opened, profile=profile)
    assert result.conforming is ok
    assert (result.answer is not None) is ok  # no code for a late jump
    if not ok:
        assert [f.requirement for f in result.findings] == ["YXC-APP-WINDOW"]
        assert "D-YXC-APPJUMP-WINDOW" in result.findings[0].clause


def test_time_formats() -> None:
    assert appjump.parse_time(1_800_000_000) == appjump.parse_time(1_800_000_000_000) == appjump.parse_time("1800000000")
    assert appjump.parse_time("2027-01-15 08:00:00") == appjump.parse_time("2027-01-15T00:00:00+00:00")  # Beijing = UTC+8


def test_the_seeds_compact_time_is_read_as_beijing_time_not_as_milliseconds() -> None:
    """000 附件四 writes times YYYYMMDDHHmmss: 14 digits were read as epoch ms (the year 2612), so a jump 90 s after the
    photo check across midnight was graded 764 s late."""
    assert appjump.parse_time("20270115080000") == appjump.parse_time("2027-01-15 08:00:00")
    assert appjump.parse_time(20270115080000) == appjump.parse_time("2027-01-15 08:00:00")
    with pytest.raises(ConfigError, match="yyyyMMddHHmmss"):
        appjump.parse_time("20270231080000")  # no 31 February


def test_a_jump_across_midnight_in_the_seeds_time_format(store: Store) -> None:
    result = appjump.app_jump(store, PATH, STUNUM, "20261202235930", opened_at="20261203000100")
    assert result.conforming and result.elapsed_seconds == 90


def test_cli(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    args = [
        "simulate",
        "yxc-app-jump",
        "--path",
        PATH,
        "--stunum",
        STUNUM,
        "--photo-checked-at",
        str(int(time.time()) - 10),
        "--db",
        str(db),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)["answer"]
    assert codes.find(open_store(db), answer["code"]) is not None
    late = CliRunner().invoke(main, [*args[:-4], "--photo-checked-at", str(int(time.time()) - 600), "--db", str(db)])
    assert late.exit_code == 1 and "YXC-APP-WINDOW" in late.stderr
    bad = CliRunner().invoke(main, [*args[:-4], "--photo-checked-at", "yesterday", "--db", str(db)])
    assert bad.exit_code == 2


def test_control_endpoint(tmp_path: Path) -> None:
    store = open_store(tmp_path / "serve.db")
    app = create_app(Settings(db=store.path, validate_responses=True), store)

    async def exercise() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://harness") as client:
            body = {"path": PATH, "stunum": STUNUM, "photo_checked_at": int(time.time()) - 30}
            good = await client.post("/_harness/yxc/app-jump", json=body)
            late = await client.post("/_harness/yxc/app-jump", json={**body, "photo_checked_at": "2020-01-01 08:00:00"})
            bad = await client.post("/_harness/yxc/app-jump", json={**body, "photo_checked_at": "yesterday"})
            return [good, late, bad]

    good, late, bad = asyncio.run(exercise())
    assert good.status_code == 200 and good.json()["conforming"] is True
    assert codes.find(store, good.json()["answer"]["code"]).stunum == STUNUM
    assert late.status_code == 200 and late.json()["answer"] is None
    assert [f["requirement"] for f in late.json()["findings"]] == ["YXC-APP-WINDOW"]
    assert bad.status_code == 400


# --- the certify role yxc-app-jump: grades the recorded jumps -------------------------------------------------------
def _grade(db: Path, tmp_path: Path, **options: object) -> tuple[dict[str, list], object, object]:
    from harness.conformance.model import CheckFinished, RunStarted
    from harness.conformance.roles import CommonOptions, role_class

    role = role_class("yxc-app-jump")(CommonOptions(tmp_path / "r", 1, db, "strict"), **options)
    events = list(role.run(1))
    by_id: dict[str, list] = {}
    for e in events:
        if isinstance(e, CheckFinished):
            by_id.setdefault(e.result.check_id, []).append(e.result)
    started = next(e for e in events if isinstance(e, RunStarted))
    return by_id, started, events[-1]


def test_every_jump_is_recorded_for_the_role(store: Store) -> None:
    now = time.time()
    good = appjump.app_jump(store, PATH, STUNUM, now - 10, opened_at=now)
    late = appjump.app_jump(store, PATH, STUNUM, now - 600, opened_at=now, source="control-api")
    rows = appjump.jumps(store, app_name="粤驾学堂")
    assert [j.id for j in rows] == [good.jump_id, late.jump_id]
    assert [j.conforming for j in rows] == [True, False] and rows[1].source == "control-api"
    assert rows[0].code == good.answer["code"] and rows[1].code is None
    assert appjump.jumps(store, since=good.jump_id) == rows[1:]
    assert appjump.jumps(store, app_name="another APP") == []


def test_role_grades_the_session_of_one_app(store: Store, tmp_path: Path) -> None:
    now = time.time()
    appjump.app_jump(store, PATH, STUNUM, now - 30, opened_at=now)
    appjump.app_jump(store, PATH.replace("%E7%B2%A4%E9%A9%BE%E5%AD%A6%E5%A0%82", "other"), STUNUM, now - 600, opened_at=now)
    by_id, started, finished = _grade(store.path, tmp_path, app_name="粤驾学堂")
    assert finished.verdict == "passed"  # the other APP's late jump is not this session's
    assert {r.status for results in by_id.values() for r in results} == {"passed"}
    assert {r.id for r in started.requirements} == {r.id for r in appjump.REQUIREMENTS}  # coverage: only what it observes
    _, _, everything = _grade(store.path, tmp_path)
    assert everything.verdict == "failed"


def test_forms_only_the_tolerant_reading_accepts_are_warnings(store: Store, tmp_path: Path) -> None:
    """A leading "/" (D-YXC-APPJUMP-PATH) and a 10 s clock skew (D-YXC-APPJUMP-WINDOW): WARNING naming the decision,
    under either profile; the run passes."""
    now = time.time()
    appjump.app_jump(store, "/" + PATH, STUNUM, now + 10, opened_at=now, profile="tolerant")
    for profile in ("strict", "tolerant"):
        by_id, _, finished = _grade(store.path, tmp_path)
        assert finished.verdict == "passed", profile
        page, window = by_id["app-page"][0], by_id["app-window"][0]
        assert (page.status, page.decision) == ("warning", "D-YXC-APPJUMP-PATH")
        assert (window.status, window.decision) == ("warning", "D-YXC-APPJUMP-WINDOW")
        assert page.evidence[0].request["url"] == "/" + PATH


def test_certify_command(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store = open_store(db)
    appjump.app_jump(store, PATH, STUNUM, time.time() - 5)
    store.close()
    ok = CliRunner().invoke(
        main, ["certify", "yxc-app-jump", "--app-name", "粤驾学堂", "--db", str(db), "--report", str(tmp_path / "ok"), "-q"]
    )
    assert ok.exit_code == 0, ok.output
    document = json.loads((tmp_path / "ok" / "report.json").read_text(encoding="utf-8"))
    assert {row["id"]: row["coverage"] for row in document["coverage"]} == {r.id: "passed" for r in appjump.REQUIREMENTS}
    none = CliRunner().invoke(
        main, ["certify", "yxc-app-jump", "--app-name", "nobody", "--db", str(db), "--report", str(tmp_path / "no"), "-q"]
    )
    assert none.exit_code == 1
    assert (
        CliRunner().invoke(main, ["certify", "yxc-app-jump", "--app-name", " ", "--db", str(db), "--report", str(tmp_path / "x")]).exit_code
        == 2
    )


def test_a_certification_session_grades_only_the_jumps_recorded_while_it_was_open(store: Store, tmp_path: Path) -> None:
    """docs/certify.md: the role grades the recorded jumps of one session: an earlier run's late jump is not this one's."""
    from harness.conformance import sessions
    from harness.conformance.model import CheckFinished, RunFinished
    from harness.conformance.roles import CommonOptions
    from harness.yxc.appjump_role import YxcAppJumpRole

    now = time.time()
    appjump.app_jump(store, PATH, STUNUM, now - 600, opened_at=now)  # an earlier run: late
    time.sleep(0.01)
    session = sessions.start(store, "yxc-app-jump", {"app_name": "粤驾学堂"})
    time.sleep(0.01)
    appjump.app_jump(store, PATH, STUNUM, now - 10, opened_at=now)
    session = sessions.finish(store, session.id)
    common = CommonOptions(tmp_path, 1, Path(store.path), "strict")
    events = list(YxcAppJumpRole(common, app_name="粤驾学堂", window=session.window).run(seed=1))
    assert isinstance(events[-1], RunFinished) and events[-1].verdict == "passed"
    jumps = next(e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "app-jumps")
    assert jumps.message.startswith("1 jump(s)") and session.id in jumps.message
    assert YxcAppJumpRole.session_capable
    unbounded = list(YxcAppJumpRole(common, app_name="粤驾学堂").run(seed=1))
    assert unbounded[-1].verdict == "failed"  # without a session or --since every recorded jump is graded, and says so
    everything = next(e.result for e in unbounded if isinstance(e, CheckFinished) and e.result.check_id == "app-jumps")
    assert "earlier runs included" in everything.message


def test_certify_start_and_finish_yxc_app_jump_from_the_cli(store: Store, tmp_path: Path) -> None:
    """`harness certify start yxc-app-jump` opens a session (the role grades the jumps recorded while it is open)."""
    from click.testing import CliRunner

    from harness.cli import main

    started = CliRunner().invoke(main, ["certify", "start", "yxc-app-jump", "--app-name", "粤驾学堂", "--db", str(store.path)])
    assert started.exit_code == 0, started.output
    sid = started.stdout.strip()
    assert "/_session/" not in started.output and "what is recorded until finish is graded" in started.output
    finished = CliRunner().invoke(main, ["certify", "finish", sid, "--report", str(tmp_path / "r"), "--db", str(store.path), "--quiet"])
    assert finished.exit_code in (0, 1) and (tmp_path / "r" / "report.json").exists(), finished.output


@pytest.mark.parametrize("query", ["from=app&appName=&responseType=code", "from=app&responseType=code"])
def test_a_session_of_one_app_grades_its_jumps_without_appname_as_app_appname(store: Store, tmp_path: Path, query: str) -> None:
    """The docs' session form (`certify start yxc-app-jump --app-name NAME`): an APP that sends appName empty or not at
    all (附件三 appName 必填) fails app-appname, not app-jumps ("no jump recorded"), which would say it never jumped."""
    from harness.conformance import sessions
    from harness.conformance.roles import CommonOptions
    from harness.yxc.appjump_role import YxcAppJumpRole

    session = sessions.start(store, "yxc-app-jump", {"app_name": "粤驾学堂"})
    time.sleep(0.01)
    now = time.time()
    appjump.app_jump(store, "pages/soild/soild-sign-in?" + query, STUNUM, now - 10, opened_at=now)
    appjump.app_jump(store, PATH.replace("%E7%B2%A4%E9%A9%BE%E5%AD%A6%E5%A0%82", "other"), STUNUM, now - 600, opened_at=now)
    session = sessions.finish(store, session.id)
    common = CommonOptions(tmp_path, 1, Path(store.path), "strict")
    from harness.conformance.model import CheckFinished, RunFinished

    events = list(YxcAppJumpRole(common, app_name="粤驾学堂", window=session.window).run(seed=1))
    by_id = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    assert isinstance(events[-1], RunFinished) and events[-1].verdict == "failed"
    assert by_id["app-jumps"].status == "passed" and "without appName" in by_id["app-jumps"].message
    assert by_id["app-appname"].status == "failed"
    assert by_id["app-window"].status == "passed"  # the other APP's late jump is still not this session's
    by_since, _, _ = _grade(store.path, tmp_path, app_name="粤驾学堂", since=0)
    assert by_since["app-appname"][0].status == "failed"
