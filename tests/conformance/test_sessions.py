"""Certification sessions: what a journal-graded role grades, and what it never grades (fuzz traffic, other windows).

The finding: ``harness certify yxc-timing-platform --vendor U`` graded everything the vendor ever sent, so running
the README's fuzzing command first (Schemathesis with the harness.fuzz hooks) failed the certification with hundreds
of findings from generated traffic. Now fuzz traffic is tagged and never graded, and a session grades only its window.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from fixtures import dudu as fx
from fixtures import files as F
from fixtures.yxc import YxcData
from harness.cli import main
from harness.config import Settings
from harness.conformance import sessions
from harness.conformance.sessions import Window
from harness.journal import Journal
from harness.pki import enrol
from harness.schema import open_store
from harness.signing import Signer
from harness.store import Store
from harness.yxc import codes

with warnings.catch_warnings():  # connexion imports starlette.testclient, which warns under httpx 0.28
    warnings.simplefilter("ignore")
    from harness.server import create_app

FUZZ = {"X-Harness-Origin": "fuzz"}
# Sessions on both stores (SQLite, and PostgreSQL when the test cluster can start).
BOTH_ENGINES = pytest.mark.parametrize("served", ["sqlite", "postgresql"], indirect=True)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    db: Path
    store: Store
    app: Any
    signer: Signer
    user: str
    vendor_dir: Path

    def run(self, coro_fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def go() -> Any:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://harness") as client:
                return await coro_fn(self, client, *args, **kwargs)

        return asyncio.run(go())


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """On SQLite; ``parametrize("served", ["sqlite", "postgresql"], indirect=True)`` runs a test on both engines."""
    db = tmp_path / "harness.db"
    engine = getattr(request, "param", "sqlite")
    store = open_store(request.getfixturevalue("pg_url") if engine == "postgresql" else db)
    enrolment = enrol(store, "yxc", "A0001", tmp_path / "vendor")
    app = create_app(Settings(db=db, validate_responses=True), store)
    yield Served(db, store, app, Signer.from_dir(tmp_path / "vendor"), enrolment.vendor.user, tmp_path / "vendor")
    store.close()


async def _post(s: Served, client: httpx.AsyncClient, base: str, operation: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    reply = await client.post(
        f"{base}/{operation}", params=s.signer.query(raw), content=raw, headers={"content-type": "application/json", **headers}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


async def clean_scenario(s: Served, client: httpx.AsyncClient, base: str = "/yxc", seed: int = 1) -> None:
    """The filing flow a conforming timing platform runs: uploads, coach, student, a classrecord with issued codes."""

    async def upload(kind: str, data: bytes) -> int:
        r = await client.post(f"{base}/imageup/{kind}", params=s.signer.query(data), files={"file": (f"{kind}.bin", data)})
        assert r.json()["errorcode"] == 0, r.text
        return r.json()["data"]["id"]

    ids = {t: await upload(t, F.png()) for t in ("coachimg", "jsz", "sfz", "stuimg")}
    ids["pyht"] = await upload("pyht", F.pdf())
    photos = [ids["stuimg"], await upload("stuimg", F.jpeg()), await upload("stuimg", F.jpeg(color=(1, 2, 3)))]
    data = YxcData(seed)
    coach, student = data.coach(ids), data.student(ids)
    assert (await _post(s, client, base, "coach", coach, {}))["errorcode"] == 0
    assert (await _post(s, client, base, "student", student, {}))["errorcode"] == 0
    login = codes.issue(s.store, student["stunum"], "login", 3600, source="test")
    logout = codes.issue(s.store, student["stunum"], "logout", 3600, source="test")
    record = data.classrecord(
        stunum=student["stunum"], coachnum=coach["coachnum"], platnum="A0001", photos=photos, logininfo=login.code, logoutinfo=logout.code
    )
    reply = await _post(s, client, base, "classrecord", record, {})
    assert reply["errorcode"] == 0, reply


async def spoiled_calls(s: Served, client: httpx.AsyncClient, headers: dict[str, str], base: str = "/yxc") -> list[int]:
    """Calls a grader must count as failures if it grades them: a missing required field, a bad signature, an
    unknown service. Returns their codes (all refusals)."""
    data = YxcData(99)
    ids = dict.fromkeys(("coachimg", "jsz", "sfz", "pyht", "stuimg"), 1)
    coach = data.coach(ids)
    out = [(await _post(s, client, base, "coach", {k: v for k, v in coach.items() if k != "name"}, headers))["errorcode"]]
    raw = json.dumps(coach).encode()
    params = s.signer.query(raw)
    sign = params["sign"]
    params["sign"] = ("11" if sign.startswith("00") else "00") + sign[2:]  # always a different signature
    r = await client.post(f"{base}/coach", params=params, content=raw, headers={"content-type": "application/json", **headers})
    out.append(r.json()["errorcode"])
    out.append((await _post(s, client, base, "nosuchservice", {"a": 1}, headers))["errorcode"])
    return out


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def certify_direct(s: Served, out: Path, *extra: str) -> Any:
    return cli("certify", "yxc-timing-platform", "--vendor", s.user, "--db", str(s.db), "--report", str(out), "--seed", "7", *extra)


def start(s: Served) -> str:
    result = cli("certify", "start", "yxc-timing-platform", "--vendor", s.user, "--db", str(s.db))
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def finish(s: Served, session_id: str, out: Path) -> Any:
    return cli("certify", "finish", session_id, "--report", str(out), "--db", str(s.db), "--seed", "7")


def report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def graded_journal_ids(rep: dict[str, Any]) -> set[int]:
    return {e["request"]["journal_id"] for c in rep["checks"] for e in c.get("evidence", []) if (e.get("request") or {}).get("journal_id")}


# --- (a) the finding: fuzz traffic is never graded -------------------------------------------------------------------
def test_fuzz_then_a_session_gives_a_clean_verdict(served: Served, tmp_path: Path) -> None:
    assert served.run(spoiled_calls, FUZZ) == [200, 202, 100]
    fuzz = Journal(served.store).query(origin="fuzz", limit=None)
    assert len(fuzz) == 3 and all(e["outcome"] == "failed" for e in fuzz)

    session_id = start(served)
    served.run(clean_scenario, f"/_session/{session_id}/yxc")
    result = finish(served, session_id, tmp_path / "out")
    assert result.exit_code == 0, result.output
    rep = report(tmp_path / "out")
    assert rep["verdict"] == "passed"
    assert rep["options"]["session"] == session_id
    assert rep["options"]["after_id"] == max(e["id"] for e in fuzz)
    assert rep["options"]["until_id"] == Journal(served.store).max_id()
    graded = graded_journal_ids(rep)
    assert graded and not graded & {e["id"] for e in fuzz}  # evidence comes from the session, never from fuzz traffic
    text = (tmp_path / "out" / "report.json").read_text(encoding="utf-8")
    assert "nosuchservice" not in text


def test_fuzz_traffic_is_never_graded_even_without_a_session(served: Served, tmp_path: Path) -> None:
    served.run(spoiled_calls, FUZZ)
    served.run(clean_scenario)
    served.run(spoiled_calls, FUZZ)  # fuzzing again afterwards changes nothing either
    result = certify_direct(served, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert report(tmp_path / "out")["verdict"] == "passed"
    # The same spoiled calls untagged are the vendor's own traffic: graded, and they fail it.
    served.run(spoiled_calls, {})
    result = certify_direct(served, tmp_path / "out2")
    assert result.exit_code == 1, result.output


def test_the_readmes_fuzzing_run_then_a_session_gives_a_clean_verdict(served: Served, tmp_path: Path) -> None:
    """Schemathesis with the harness.fuzz hooks (as schemathesis.toml loads them), then a session: passed."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.conformance.fuzz_in_process", str(served.db), str(served.vendor_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    sent = json.loads(run.stdout.strip().splitlines()[-1])["sent"]
    journal = Journal(served.store).query(limit=None)
    assert sent >= 12 and len(journal) == sent
    assert all(e["origin"] == "fuzz" for e in journal)  # the hook tagged every generated request
    assert sum(e["outcome"] == "failed" for e in journal) >= 6  # what used to fail the certification
    sid = start(served)
    served.run(clean_scenario, f"/_session/{sid}/yxc")
    result = finish(served, sid, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert report(tmp_path / "out")["verdict"] == "passed"


# --- (b) only the window is graded ------------------------------------------------------------------------------------
def test_traffic_before_start_and_after_finish_is_not_graded(served: Served, tmp_path: Path) -> None:
    before = served.run(spoiled_calls, {})  # untagged, failing, before the session
    assert before == [200, 202, 100]
    session_id = start(served)
    served.run(clean_scenario)  # "just run the scenario": the usual base path, inside the window
    result = finish(served, session_id, tmp_path / "out")
    assert result.exit_code == 0, result.output
    first = report(tmp_path / "out")
    assert first["verdict"] == "passed"

    served.run(spoiled_calls, {})  # after finish, untagged
    late = served.run(spoiled_calls, {}, f"/_session/{session_id}/yxc")  # after finish, under the finished session
    assert late == [100, 100, 100]  # refused as not found, in the YXC envelope
    again = finish(served, session_id, tmp_path / "again")  # grading a finished session again: the same window
    assert again.exit_code == 0, again.output
    assert "already finished" in again.output
    window = ("session", "after_id", "until_id", "graded")
    assert [report(tmp_path / "again")["options"][k] for k in window] == [first["options"][k] for k in window]

    # Without the session, the same journal fails: the spoiled calls are this vendor's traffic.
    assert certify_direct(served, tmp_path / "all").exit_code == 1


@BOTH_ENGINES
def test_window_sql_and_includes_agree(served: Served) -> None:
    served.run(spoiled_calls, {})
    sid = sessions.start(served.store, "yxc-timing-platform", {"vendor": served.user}).id
    served.run(spoiled_calls, FUZZ)
    served.run(spoiled_calls, {}, f"/_session/{sid}/yxc")
    served.run(spoiled_calls, {})
    other = sessions.start(served.store, "yxc-timing-platform", {"vendor": served.user}).id
    served.run(spoiled_calls, {}, f"/_session/{other}/yxc")
    session = sessions.finish(served.store, sid)
    served.run(spoiled_calls, {}, f"/_session/{sid}/yxc")  # refused, tagged, after finish
    everything = Journal(served.store).query(limit=None, ascending=True)
    for window in (session.window, Window(), Window(after_id=3), Window(after_id=2, until_id=8, session=other)):
        by_sql = [e["id"] for e in Journal(served.store).query(where=window.sql(), limit=None, ascending=True)]
        assert by_sql == [e["id"] for e in everything if window.includes(e)], window
        assert not any(e["origin"] == "fuzz" for e in everything if e["id"] in by_sql)
    graded = [e for e in everything if session.window.includes(e)]
    assert {e["session"] for e in graded} == {None, sid}
    assert all(e["id"] <= session.until_id for e in graded)
    assert all(e["id"] > session.after_id for e in graded if e["session"] is None)


async def anonymous_call(s: Served, client: httpx.AsyncClient, base: str = "/yxc") -> int:
    """A call the gate refuses before it can name any vendor (no user, no signature): journaled with vendor empty."""
    r = await client.post(f"{base}/coach", content=b"{}", headers={"content-type": "application/json"})
    return r.json()["errorcode"]


def test_a_sessions_calls_refused_before_the_vendor_was_named_are_the_vendors(served: Served) -> None:
    """Window.attributed: a role grading one vendor takes the calls the gate attributed to it and, with a session,
    the session's tagged calls the gate refused before it could name any vendor (they used the session's base path);
    never an untagged anonymous call, nor another session's."""
    served.run(anonymous_call)  # before the session, untagged
    sid = sessions.start(served.store, "yxc-timing-platform", {"vendor": served.user}).id
    other = sessions.start(served.store, "yxc-timing-platform", {"vendor": served.user}).id
    assert served.run(anonymous_call, f"/_session/{sid}/yxc") != 0
    served.run(anonymous_call, f"/_session/{other}/yxc")
    served.run(anonymous_call)  # inside the window, but untagged: nobody can say whose it is
    served.run(spoiled_calls, {}, f"/_session/{sid}/yxc")  # attributed to the vendor by the gate
    session = sessions.finish(served.store, sid)
    everything = Journal(served.store).query(limit=None, ascending=True)
    anonymous = [e for e in everything if e["vendor"] is None]
    assert {e["session"] for e in anonymous} == {None, sid, other}  # spoiled_calls' unknown service is anonymous too
    for window in (session.window, Window(), Window(after_id=1)):
        by_sql = [e["id"] for e in Journal(served.store).query(where=window.attributed(served.user), limit=None, ascending=True)]
        mine = [
            e["id"]
            for e in everything
            if window.includes(e) and (e["vendor"] == served.user or (e["vendor"] is None and window.session and e["session"] == sid))
        ]
        assert by_sql == mine, window
    graded = Journal(served.store).query(where=session.window.attributed(served.user), limit=None, ascending=True)
    assert [e["session"] for e in graded if e["vendor"] is None] == [sid, sid]  # the session's anonymous calls only
    assert len(graded) == 4 and sum(e["vendor"] == served.user for e in graded) == 2


# --- (c) the session base path ------------------------------------------------------------------------------------------
@BOTH_ENGINES
def test_the_session_base_path_is_served_and_journaled_with_the_session(served: Served) -> None:
    sid = sessions.start(served.store, "yxc-timing-platform", {"vendor": served.user}).id
    served.run(clean_scenario, f"/_session/{sid}/yxc")
    entries = Journal(served.store).query(session=sid, limit=None)
    assert len(entries) == 10 and all(e["outcome"] == "held" for e in entries)
    assert {e["path"] for e in entries} >= {"/yxc/coach", "/yxc/student", "/yxc/classrecord"}  # the platform's own path
    assert Journal(served.store).query(session="other", limit=None) == []


@BOTH_ENGINES
def test_an_unknown_session_is_answered_in_the_platform_envelope(served: Served) -> None:
    codes_ = served.run(spoiled_calls, {}, "/_session/nosuch/yxc")
    assert codes_ == [100, 100, 100]

    async def one(s: Served, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/_session/nosuch/zjpx/api/v1/thlogin")

    reply = served.run(one)
    assert reply.status_code == 200 and reply.json()["returnCode"] != "0"
    entry = Journal(served.store).query(session="nosuch", limit=1)[0]
    assert entry["verdicts"][0]["rule"] == "SESSION" and not entry["verdicts"][0]["held"]


def test_the_dudu_fast_path_under_a_session(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    store = open_store(db)
    fx.world(store)
    app = create_app(Settings(db=db, validate_responses=True), store)
    client = fx.AsgiClient(app)
    try:
        sid = sessions.start(store, "dudu-device-backend", {"enterprise": fx.ENTERPRISE}).id
        ok = client.raw("POST", f"/_session/{sid}/dudu/location_report", json=fx.heartbeat(req_id="r1")).json()
        assert ok["ret_code"] == 0
        fuzzed = client.raw("POST", "/dudu/location_report", json=fx.heartbeat(), headers=FUZZ).json()
        assert fuzzed["ret_code"] == 0
        refused = client.raw("POST", "/_session/nosuch/dudu/location_report", json=fx.heartbeat(req_id="r2")).json()
        assert refused["ret_code"] != 0 and refused["req_id"] == "r2"
    finally:
        client.close()
    journal = Journal(store)
    assert [e["path"] for e in journal.query(session=sid, limit=None)] == ["/dudu/location_report"]
    assert len(journal.query(origin="fuzz", limit=None)) == 1
    assert journal.query(session="nosuch", limit=None)[0]["outcome"] == "failed"
    store.close()


def test_the_control_api_filters_by_session_and_origin(served: Served) -> None:
    sid = sessions.start(served.store, "yxc-timing-platform", {"vendor": served.user}).id
    served.run(spoiled_calls, FUZZ, f"/_session/{sid}/yxc")
    served.run(spoiled_calls, {})

    async def get(s: Served, client: httpx.AsyncClient, params: dict[str, str]) -> list[dict[str, Any]]:
        r = await client.get("/_harness/journal", params=params)
        assert r.status_code == 200, r.text
        return r.json()["entries"]

    assert len(served.run(get, {"session": sid})) == 3
    assert {e["origin"] for e in served.run(get, {"origin": "fuzz"})} == {"fuzz"}
    assert {e["session"] for e in served.run(get, {"origin": "none"})} == {None}
    result = cli("journal", "--db", str(served.db), "--session", sid)
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 3 and f"session={sid}" in result.stdout


# --- (d) the CLI ----------------------------------------------------------------------------------------------------------
def test_start_finish_round_trip_and_listing(served: Served, tmp_path: Path) -> None:
    result = cli("certify", "start", "yxc-timing-platform", "--vendor", served.user, "--db", str(served.db), "--url", "http://h:9/")
    assert result.exit_code == 0, result.output
    sid = result.stdout.strip()
    assert f"http://h:9/_session/{sid}/yxc" in result.output
    assert f"harness certify finish {sid} --report REPORT_DIR --db {served.db}" in result.output
    listed = cli("certify", "sessions", "--db", str(served.db))
    assert listed.exit_code == 0 and sid in listed.stdout and "open" in listed.stdout
    empty = finish(served, sid, tmp_path / "out")  # nothing was sent: the required steps are missing
    assert empty.exit_code == 1, empty.output
    listed = cli("certify", "sessions", "--db", str(served.db))
    assert "finished" in listed.stdout and "0 exchanges" in listed.stdout


def test_start_prints_the_address_serve_noted_and_warns_of_an_overlapping_session(served: Served) -> None:
    sessions.record_serve(served.store, "0.0.0.0", 18741)  # this process stands for the server: it is running
    first = cli("certify", "start", "yxc-timing-platform", "--vendor", served.user, "--db", str(served.db))
    assert first.exit_code == 0, first.output
    sid = first.stdout.strip()
    assert f"base URL  http://127.0.0.1:18741/_session/{sid}/yxc" in first.output and "warning" not in first.output
    second = cli("certify", "start", "yxc-timing-platform", "--vendor", served.user, "--db", str(served.db))
    assert second.exit_code == 0 and f"warning: session {sid} of yxc-timing-platform with the same options is still open" in second.output
    served.store.execute("UPDATE serve_addresses SET pid = 999999999")  # that server has ended
    third = cli("certify", "start", "yxc-timing-platform", "--vendor", served.user, "--db", str(served.db))
    assert "no running harness serve is noted on this store: pass --url" in third.output


def test_unknown_session_is_one_line_and_exit_2(served: Served, tmp_path: Path) -> None:
    result = finish(served, "nosuch", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "no certification session 'nosuch'" in result.output
    assert not (tmp_path / "out").exists()


def test_start_checks_the_roles_own_arguments(served: Served) -> None:
    result = cli("certify", "start", "dudu-device-backend", "--enterprise", "nosuch", "--db", str(served.db))
    assert result.exit_code == 2 and "no DUDU enterprise" in result.output
    assert sessions.list_sessions(served.store) == []
    assert cli("certify", "start", "yxc-callback", "--db", str(served.db)).exit_code == 2  # not graded from the journal


def test_session_ids_never_look_like_options(served: Served) -> None:
    ids = [sessions.start(served.store, "yxc-timing-platform", {"vendor": served.user}).id for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(i[0].isalnum() and i.isalnum() and i == i.lower() for i in ids)


def test_schemathesis_probes_are_fuzz_traffic_too(served: Served) -> None:
    """Schemathesis probes the base URL before a run without passing any hook: its probe header marks them."""

    async def probe(s: Served, client: httpx.AsyncClient, headers: dict[str, str]) -> int:
        return (await client.get("/yxc/schemathesis-probe%5C%1B%01", headers=headers)).json()["errorcode"]

    assert served.run(probe, {"X-Schemathesis-Probe": "Accepts backslash and control characters in URL paths"}) == 100
    assert served.run(probe, {"X-Schemathesis-TestCaseId": "jdAJbF"}) == 100
    assert served.run(probe, {}) == 100
    assert [e["origin"] for e in Journal(served.store).query(limit=None, ascending=True)] == ["fuzz", "fuzz", None]


@pytest.mark.parametrize(
    ("role", "options"),
    [("dudu-device-backend", ["--enterprise", fx.ENTERPRISE]), ("zjpx-learning-platform-client", ["--platform", "P0001"])],
)
def test_every_journal_graded_role_finishes_a_session(tmp_path: Path, role: str, options: list[str]) -> None:
    db = tmp_path / "r.db"
    store = open_store(db)
    fx.world(store)
    if role.startswith("zjpx-"):  # the role refuses a studyPlatformCode without an account
        from harness.zjpx.accounts import add_account

        add_account(store, "vendor", "pw", "学习平台", "P0001")
    started = cli("certify", "start", role, *options, "--db", str(db))
    assert started.exit_code == 0, started.output
    sid = started.stdout.strip()
    result = cli("certify", "finish", sid, "--report", str(tmp_path / "out"), "--db", str(db), "--seed", "1")
    assert result.exit_code in (0, 1), result.output  # graded (nothing was sent), not "could not run"
    rep = report(tmp_path / "out")
    assert rep["options"]["session"] == sid and rep["options"]["until_id"] == 0
    store.close()
