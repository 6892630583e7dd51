"""Resilience drills (harness/faults.py, docs/faults.md): each fault kind on the wire, its scope and window, the
journal's fault column, the cache the exchange layer reads, `harness faults` and /_harness/faults."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from fixtures import dudu as fx
from harness import faults
from harness.cli import main
from harness.config import Settings
from harness.schema import open_store
from harness.store import Store

with warnings.catch_warnings():  # connexion 3.3 imports starlette.testclient, which warns under httpx 0.28
    warnings.simplefilter("ignore")
    from harness.server import create_app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[fx.AsgiClient, Store, Any]]:
    db = tmp_path / "faults.db"
    store = open_store(db)
    fx.world(store, devices=2)
    app = create_app(Settings(db=db, validate_responses=True), store)
    app.state_journal.start()
    client = fx.AsgiClient(app)
    try:
        yield client, store, app
    finally:
        client.close()
        app.state_journal.stop()
        store.close()


def _last(store: Store) -> dict[str, Any]:
    row = store.query_one("SELECT * FROM journal ORDER BY id DESC LIMIT 1")
    assert row is not None
    return dict(row)


def test_down_answers_503_with_the_platform_envelope_processes_nothing_and_journals_the_fault(served: Any) -> None:
    client, store, _ = served
    rule = faults.add(store, "down", "dudu", duration=30)
    reply = client.raw("POST", "/dudu/card_check_log", json=fx.card_log(1))
    assert reply.status_code == 503 and reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["ret_code"] == 1099 and body["req_id"] == fx.card_log(1)["req_id"] and rule.name in body["ret_msg"]
    row = _last(store)
    assert (row["fault"], row["status"], row["code"], row["verdicts"], row["outcome"]) == ("down#1", 503, "1099", "[]", "held")
    assert store.query_one("SELECT COUNT(*) AS n FROM dudu_offline_logs")["n"] == 0  # not processed
    for operation, body in (("location_report", fx.heartbeat()), ("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})):
        assert client.raw("POST", f"/dudu/{operation}", json=body).status_code == 503  # every operation of the platform
    faults.clear(store)
    assert client.post("card_check_log", fx.card_log(1))["ret_code"] == 0
    assert _last(store)["fault"] is None


def test_status_malformed_truncated_and_reset_on_one_operation_only(served: Any) -> None:
    client, store, _ = served
    faults.add(store, "status", "dudu", operation="card_check", status=502)
    reply = client.raw("POST", "/dudu/card_check", json=fx.card_check())
    assert reply.status_code == 502 and reply.json()["ret_code"] == 1099
    assert client.post("location_report", fx.heartbeat())["ret_code"] == 0  # another operation: untouched
    faults.clear(store)

    faults.add(store, "malformed", "dudu", operation="card_check")
    reply = client.raw("POST", "/dudu/card_check", json=fx.card_check())
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.content)
    assert _last(store)["fault"] == "malformed#2"
    faults.clear(store)

    faults.add(store, "truncated", "dudu", operation="card_check")
    reply = client.raw("POST", "/dudu/card_check", json=fx.card_check())
    full = client.raw("POST", "/dudu/location_report", json=fx.heartbeat())  # the full envelope's length, for scale
    assert reply.status_code == 200 and int(reply.headers["content-length"]) == len(reply.content) > 0
    assert reply.content.startswith(b'{"req_id":"cc-1","ret_code":1099')
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.content)
    assert full.status_code == 200
    faults.clear(store)

    faults.add(store, "reset", "dudu", operation="card_check")
    with pytest.raises(faults.ConnectionResetFault):  # in process: no socket to abort
        client.raw("POST", "/dudu/card_check", json=fx.card_check())
    row = _last(store)
    assert (row["fault"], row["status"], row["reply_body"]) == ("reset#4", 0, "")
    faults.clear(store)
    assert client.post("card_check", fx.card_check())["ret_code"] == 0


def test_delay_answers_normally_later_and_is_journaled_with_the_fault(served: Any) -> None:
    client, store, _ = served
    faults.add(store, "delay", "dudu", delay_ms=150)
    started = time.perf_counter()
    assert client.post("location_report", fx.heartbeat())["ret_code"] == 0
    assert time.perf_counter() - started >= 0.15
    row = _last(store)
    assert row["fault"] == "delay#1" and row["code"] == "0" and row["duration_ms"] >= 150
    assert "DUDU-DEVICE-KNOWN" in row["verdicts"]  # processed as usual


def test_vendor_scope_every_nth_and_probability(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, store, _ = served
    faults.add(store, "status", "dudu", vendor="DEV00002")
    assert client.post("location_report", fx.heartbeat("DEV00001"))["ret_code"] == 0
    assert client.raw("POST", "/dudu/location_report", json=fx.heartbeat("DEV00002")).status_code == 503
    faults.clear(store)

    faults.add(store, "status", "dudu", every=3)
    codes = [client.raw("POST", "/dudu/location_report", json=fx.heartbeat()).status_code for _ in range(6)]
    assert codes == [200, 200, 503, 200, 200, 503]
    faults.clear(store)

    faults.add(store, "status", "dudu", probability=0.5)
    draws = iter([0.9, 0.1, 0.7])
    monkeypatch.setattr(faults.random, "random", lambda: next(draws))
    codes = [client.raw("POST", "/dudu/location_report", json=fx.heartbeat()).status_code for _ in range(3)]
    assert codes == [200, 503, 200]


def test_a_session_id_scopes_a_fault_to_that_certification_session(served: Any) -> None:
    client, store, _ = served
    from harness.conformance import sessions

    session = sessions.start(store, "dudu-device-backend", {"enterprise": fx.ENTERPRISE})
    faults.add(store, "down", "dudu", vendor=session.id)
    assert client.post("location_report", fx.heartbeat())["ret_code"] == 0  # outside the session: up
    reply = client.raw("POST", f"/_session/{session.id}/dudu/location_report", json=fx.heartbeat())
    assert reply.status_code == 503 and _last(store)["session"] == session.id


class _Clock:
    """The fault book's clock, moved by the test (a loaded machine must not decide whether a window has begun)."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return time.perf_counter()


def test_the_window_starts_and_ends_on_time(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, store, _ = served
    clock = _Clock()
    monkeypatch.setattr(faults, "time", clock)
    faults.add(store, "down", "dudu", start_in=0.3, duration=0.3)
    assert client.post("location_report", fx.heartbeat())["ret_code"] == 0  # pending
    clock.now += 0.35
    assert client.raw("POST", "/dudu/location_report", json=fx.heartbeat()).status_code == 503
    clock.now += 0.35
    assert client.post("location_report", fx.heartbeat())["ret_code"] == 0  # over
    assert [r.name for r in faults.listed(store)] == [] and [r.name for r in faults.listed(store, include_ended=True)] == ["down#1"]


def test_a_rule_added_by_another_process_is_in_force_within_the_recheck(served: Any, tmp_path: Path) -> None:
    client, store, _ = served
    assert client.post("location_report", fx.heartbeat())["ret_code"] == 0
    other = open_store(store.path)  # the CLI's own handle: only data_version tells the server
    faults.add(other, "down", "dudu", duration=30)
    time.sleep(faults.FaultBook.RECHECK + 0.05)
    assert client.raw("POST", "/dudu/location_report", json=fx.heartbeat()).status_code == 503
    faults.clear(other)
    time.sleep(faults.FaultBook.RECHECK + 0.05)
    assert client.post("location_report", fx.heartbeat())["ret_code"] == 0
    other.close()


def test_with_no_rule_the_hot_path_reads_the_store_at_most_once_per_recheck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path / "h.db")
    book = faults.FaultBook(store)
    asked: list[int] = []
    real = store.data_version
    monkeypatch.setattr(store, "data_version", lambda: asked.append(1) or real())
    for _ in range(1000):
        assert book.rules("dudu") is None
    assert len(asked) <= 2


def test_a_store_that_cannot_be_read_leaves_the_cached_rules_in_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path / "h.db")
    faults.add(store, "down", "dudu")
    book = faults.FaultBook(store)
    assert [r.name for r in book.rules("dudu") or ()] == ["down#1"]

    def broken() -> int:
        raise faults.ConfigError("store gone")

    monkeypatch.setattr(store, "data_version", broken)
    monkeypatch.setattr(book, "_checked", float("-inf"))
    assert [r.name for r in book.rules("dudu") or ()] == ["down#1"]  # logged, not raised into the exchange


def test_an_outage_of_the_store_is_logged_once_not_at_every_recheck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path / "h.db")
    book = faults.FaultBook(store)
    real = store.data_version
    down = [True]

    def flaky() -> int:
        if down[0]:
            raise faults.ConfigError("store gone")
        return real()

    monkeypatch.setattr(store, "data_version", flaky)
    with caplog.at_level("WARNING", logger="harness.faults"):
        for _ in range(5):
            monkeypatch.setattr(book, "_checked", float("-inf"))  # as if RECHECK had passed each time
            assert book.rules("dudu") is None
        down[0] = False
        monkeypatch.setattr(book, "_checked", float("-inf"))
        book.rules("dudu")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "fault rules could not be read (ConfigError); keeping the cached ones until the store answers",
        "fault rules readable again",
    ]
    assert not any(r.exc_info for r in caplog.records)  # one line each, no stack trace


def test_other_platforms_answer_their_own_system_error_envelope(served: Any) -> None:
    client, store, _ = served
    faults.add(store, "down", "yxc")
    faults.add(store, "down", "zjpx")
    yxc = client.raw("POST", "/yxc/coach?v=1&ts=1&sign=x&user=U", json={})
    assert yxc.status_code == 503 and yxc.json()["errorcode"] != 0
    zjpx = client.raw("POST", "/zjpx/api/v1/thlogin", json={})
    assert zjpx.status_code == 503 and str(zjpx.json()["returnCode"]) != "0"
    assert client.post("location_report", fx.heartbeat())["ret_code"] == 0  # DUDU is up


def test_bad_rules_are_refused_in_one_line(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.db")
    for kwargs, says in (
        ({"kind": "delay", "platform": "dudu"}, "delay_ms"),
        ({"kind": "down", "platform": "dudu", "operation": "card_check"}, "no operation scope"),
        ({"kind": "status", "platform": "nowhere"}, "no platform"),
        ({"kind": "status", "platform": "dudu", "probability": 0.5, "every": 2}, "not both"),
        ({"kind": "flood", "platform": "dudu"}, "fault kind"),
    ):
        with pytest.raises(faults.ConfigError, match=says):
            faults.add(store, **kwargs)


def test_cli_add_list_clear_and_errors_exit_2(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    added = runner.invoke(main, ["faults", "add", "down", "--platform", "dudu", "--duration", "30", "--db", db])
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["name"] == "down#1"
    listed = runner.invoke(main, ["faults", "list", "--db", db])
    assert [json.loads(line)["name"] for line in listed.output.splitlines()] == ["down#1"]
    assert json.loads(runner.invoke(main, ["faults", "clear", "--db", db]).output) == {"cleared": [1]}
    assert runner.invoke(main, ["faults", "list", "--db", db]).output == ""
    bad = runner.invoke(main, ["faults", "add", "delay", "--platform", "dudu", "--db", db])
    assert bad.exit_code == 2 and bad.output.strip().count("\n") == 0 and "delay_ms" in bad.output
    missing = runner.invoke(main, ["faults", "clear", "7", "--db", db])
    assert missing.exit_code == 2 and "no fault rule" in missing.output


def _control(app: Any, method: str, path: str, client: tuple[str, int] = ("127.0.0.1", 1), **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client), base_url="http://harness.test") as http:
            return await http.request(method, path, **kwargs)

    return asyncio.run(go())


def test_control_api_adds_lists_and_clears_faults_for_loopback_only(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.db")
    app = create_app(Settings(db=store.path, validate_responses=True), store)
    added = _control(app, "POST", "/_harness/faults", json={"kind": "status", "platform": "dudu", "operation": "card_check", "status": 504})
    assert added.status_code == 201 and added.json()["fault"]["name"] == "status#1"
    assert _control(app, "POST", "/_harness/faults", json={"kind": "delay", "platform": "dudu"}).status_code == 400
    assert [f["name"] for f in _control(app, "GET", "/_harness/faults").json()["faults"]] == ["status#1"]
    assert _control(app, "POST", "/_harness/faults", client=("10.1.2.3", 5), json={"kind": "down", "platform": "dudu"}).status_code == 403
    assert _control(app, "DELETE", "/_harness/faults/1").json() == {"cleared": [1]}
    assert _control(app, "DELETE", "/_harness/faults/1").status_code == 404
    assert _control(app, "GET", "/_harness/faults").json() == {"faults": []}
    assert [f["name"] for f in _control(app, "GET", "/_harness/faults?include_ended=true").json()["faults"]] == ["status#1"]
    faults.add(store, "down", "dudu")
    assert _control(app, "DELETE", "/_harness/faults?platform=dudu").json() == {"cleared": [2]}


def test_reset_under_uvicorn_closes_the_connection_without_a_reply(tmp_path: Path) -> None:
    import uvicorn

    store = open_store(tmp_path / "u.db")
    fx.world(store)
    app = create_app(Settings(db=store.path), store)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        faults.add(store, "reset", "dudu", operation="card_check")
        body = json.dumps(fx.card_check()).encode()
        request = b"POST /dudu/card_check HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
            len(body),
            body,
        )
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(request)
            try:
                received = conn.recv(65536)
            except ConnectionResetError:
                received = b""
        assert received == b""  # no status line, no 500: the connection was dropped
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.post("/dudu/location_report", json=fx.heartbeat()).json()["ret_code"] == 0
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
