"""The fast path's journal: group commit on the event loop, durability, and a WAL that stays bounded under unbroken load."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from harness.journal import Exchange, Journal, LoopGroupCommit
from harness.schema import open_store


def _exchange(i: int, writes: list[tuple[str, tuple[object, ...]]] | None = None, *, cached: bool = False) -> Exchange:
    body = b'{"n": %d, "pad": "%s"}' % (i, b"x" * 2000)  # about a heartbeat's size, so that the WAL grows like one
    exchange = Exchange("dudu", "POST", "/dudu/location_report", "", {"content-type": "application/json"}, body)
    for sql, params in writes or []:
        exchange.work.write(sql, params, cached=cached)
    return exchange


def _rows(target: Path | str) -> int:
    other = open_store(target)  # another handle: only committed rows count
    try:
        return other.query_one("SELECT COUNT(*) FROM journal")[0]
    finally:
        other.close()


def test_one_iteration_is_one_transaction_and_every_waiter_gets_its_row(store_target: str) -> None:
    store = open_store(store_target)
    commit = LoopGroupCommit(store)

    async def main() -> list[int]:
        return await asyncio.gather(*(commit.record(_exchange(i)) for i in range(50)))

    ids = asyncio.run(main())
    assert ids == list(range(ids[0], ids[0] + 50))  # consecutive: one transaction, ids handed out in order
    assert _rows(store_target) == 50
    bodies = [r[0] for r in store.query("SELECT request_body FROM journal ORDER BY id")]
    assert [int(b.split(b",")[0].split(b":")[1]) for b in bodies] == list(range(50))
    store.close()


def test_a_failed_batch_fails_every_waiter_and_empties_write_through_caches(store_target: str) -> None:
    store = open_store(store_target)
    commit = LoopGroupCommit(store)
    forgotten: list[int] = []
    committed: list[int] = []

    async def main() -> list[object]:
        good = _exchange(1)
        good.work.on_rollback(lambda: forgotten.append(1))
        bad = _exchange(2, writes=[("INSERT INTO no_such_table VALUES (?)", (1,))], cached=True)
        bad.work.on_rollback(lambda: forgotten.append(2))
        bad.work.on_commit(lambda conn: committed.append(2))
        return await asyncio.gather(commit.record(good), commit.record(bad), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, sqlite3.OperationalError) for r in results)
    assert _rows(store_target) == 0  # nothing of the batch was committed, the good row included
    assert sorted(forgotten) == [1, 2] and not committed  # every unit of the batch learnt of its rollback
    store.close()


def test_commit_callbacks_run_inside_the_transaction_and_read_what_it_wrote(store_target: str) -> None:
    """A ledger append that reads the previous head belongs in the same transaction as the journal row."""
    store = open_store(store_target)
    commit = LoopGroupCommit(store)
    heads: list[int] = []

    def append(conn: sqlite3.Connection) -> None:
        heads.append(conn.execute("SELECT MAX(id) FROM journal").fetchone()[0])

    async def main() -> list[int]:
        first, second = _exchange(1), _exchange(2)
        first.work.on_commit(append)
        second.work.on_commit(append)
        return await asyncio.gather(commit.record(first), commit.record(second))

    ids = asyncio.run(main())
    assert heads == [ids[1], ids[1]]  # both rows of the batch are visible to the callbacks, before COMMIT
    assert _rows(store_target) == 2
    store.close()


@pytest.mark.parametrize("seconds", [1.5])
def test_the_wal_starts_over_under_unbroken_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Without a hold, a passive checkpoint never completes while commits keep coming, and the WAL only grows."""
    monkeypatch.setattr(LoopGroupCommit, "CHECKPOINT_EVERY", 0.05)
    monkeypatch.setattr(LoopGroupCommit, "RESET_FRAMES", 200)
    db = tmp_path / "j.db"
    store = open_store(db)
    commit = LoopGroupCommit(store)
    recorded = 0
    largest_wal = 0

    async def writer(k: int) -> None:
        nonlocal recorded, largest_wal
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            await commit.record(_exchange(k * 1_000_000 + i))
            recorded += 1
            i += 1
            wal = db.with_name(db.name + "-wal")
            largest_wal = max(largest_wal, wal.stat().st_size if wal.exists() else 0)

    async def main() -> None:
        await asyncio.gather(*(writer(k) for k in range(8)))

    asyncio.run(main())
    assert commit.resets >= 1, "the WAL never started over"
    assert _rows(db) == recorded  # a hold delays commits, it loses none
    # Without restarts the WAL would hold every row written (≈ 1 page each); with them it stays near RESET_FRAMES
    # plus what one checkpoint interval adds.
    assert recorded * 4096 > 3 * largest_wal, (recorded, largest_wal)
    store.close()


def test_failed_exchanges_are_found_by_their_own_index(store_target: str) -> None:
    from harness.journal import Journal
    from harness.rules import Verdict

    store = open_store(store_target)
    commit = LoopGroupCommit(store)

    async def main() -> None:
        for i in range(6):
            exchange = _exchange(i)
            exchange.verdicts = [Verdict("R-1", "clause", i % 3 != 0, "" if i % 3 else "broke it")]
            await commit.record(exchange)

    asyncio.run(main())
    journal = Journal(store)
    failed = journal.query(verdict="failed", ascending=True)
    assert [e["outcome"] for e in failed] == ["failed", "failed"] and failed[0]["verdicts"][0]["message"] == "broke it"
    assert len(journal.query(verdict="held")) == 4
    if store.dialect == "sqlite":
        plan = " ".join(r[3] for r in store.query("EXPLAIN QUERY PLAN SELECT * FROM journal WHERE outcome = 'failed' ORDER BY id DESC"))
        assert "journal_failed" in plan, plan
    with pytest.raises(ValueError):
        journal.query(verdict="x' OR '1'='1")
    store.close()


def test_a_store_from_before_keeps_working(tmp_path: Path) -> None:
    """Stores made with AUTOINCREMENT and an index over every outcome: the old index goes, ids stay consecutive."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE journal (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, platform TEXT NOT NULL,"
            " operation TEXT, vendor TEXT, method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL,"
            " request_headers TEXT NOT NULL, request_body BLOB, request_size INTEGER NOT NULL, request_sha256 TEXT NOT NULL,"
            " status INTEGER NOT NULL, reply_body TEXT, code TEXT, outcome TEXT NOT NULL, verdicts TEXT NOT NULL,"
            " duration_ms REAL NOT NULL)"
        )
        conn.execute("CREATE INDEX journal_outcome ON journal (outcome)")
    store = open_store(db)
    indexes = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "journal_outcome" not in indexes and "journal_failed" in indexes
    commit = LoopGroupCommit(store)

    async def main() -> list[int]:
        return await asyncio.gather(*(commit.record(_exchange(i)) for i in range(5)))

    assert asyncio.run(main()) == [1, 2, 3, 4, 5]
    store.close()


# --- the store's versioned migrations -----------------------------------------------------------------------------------
def _traced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the store's own connection runs from now on."""
    import harness.store

    seen: list[str] = []
    connect = harness.store._connect

    def traced(path: Path) -> sqlite3.Connection:
        conn = connect(path)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(harness.store, "_connect", traced)
    return seen


def _ddl(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().split(" ", 1)[0].upper() in ("CREATE", "ALTER", "DROP", "BEGIN")]


def test_a_new_store_records_every_owners_version(store_target: str) -> None:
    from harness.schema import schemas

    store = open_store(store_target)
    assert store.versions() == {s.owner: s.version for s in schemas()}
    owners = {"journal", "pki", "cert_sessions", "faults", "yxc", "zjpx", "dudu"}
    assert store.versions()["journal"] == 4 and owners <= set(store.versions())
    if store.dialect == "sqlite":
        columns = {r[1] for r in store.query("PRAGMA table_info(journal)")}
    else:
        columns = {r[0] for r in store.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'journal'")}
    assert {"session", "origin", "reply_sha256", "reply_wire", "fault"} <= columns
    store.close()


def test_opening_an_up_to_date_store_runs_no_ddl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(tmp_path / "u.db").close()
    seen = _traced(monkeypatch)
    store = open_store(tmp_path / "u.db")
    assert seen and _ddl(seen) == []  # it read the versions, and wrote nothing
    store.close()


def test_only_steps_above_the_stored_version_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.store import AddColumn, Schema, Step, Store

    one = Schema("t", [Step(1, ["CREATE TABLE IF NOT EXISTS t (a INTEGER)"])])
    Store(tmp_path / "s.db", schemas=[one]).close()
    seen = _traced(monkeypatch)
    two = Schema("t", [*one.steps, Step(2, [AddColumn("t", "b", "TEXT"), "CREATE INDEX IF NOT EXISTS t_b ON t (b)"])])
    store = Store(tmp_path / "s.db", schemas=[two])
    ddl = _ddl(seen)
    assert not any("CREATE TABLE IF NOT EXISTS t " in s for s in ddl)  # step 1 did not run again
    assert any(s.startswith("ALTER TABLE t ADD COLUMN b") for s in ddl) and store.versions() == {"t": 2}
    store.close()


def test_a_failing_step_leaves_the_store_at_its_previous_version(tmp_path: Path) -> None:
    from harness.errors import StoreError
    from harness.store import Schema, Step, Store

    one = Schema("t", [Step(1, ["CREATE TABLE t (a INTEGER)"])])
    Store(tmp_path / "f.db", schemas=[one]).close()
    bad = Schema("t", [*one.steps, Step(2, ["CREATE TABLE t2 (a INTEGER)", "THIS IS NOT SQL"])])
    with pytest.raises(StoreError, match="migrating t to version 2"):
        Store(tmp_path / "f.db", schemas=[bad])
    store = Store(tmp_path / "f.db", schemas=[one])
    assert store.versions() == {"t": 1}
    assert store.query_one("SELECT name FROM sqlite_master WHERE name = 't2'") is None  # the step rolled back whole
    store.close()


def test_step_versions_must_increase() -> None:
    from harness.errors import StoreError
    from harness.store import Schema, Step

    with pytest.raises(StoreError):
        Schema("t", [Step(2, []), Step(1, [])])
    with pytest.raises(StoreError):
        Schema("t", [])


@pytest.mark.parametrize("with_new_columns", [False, True])
def test_a_store_made_before_versions_opens(tmp_path: Path, with_new_columns: bool) -> None:
    """Stores made before versions existed hold the tables and no schema_versions (some already the new columns)."""
    from harness.schema import schemas
    from harness.store import AddColumn

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        for schema in schemas():
            for statement in schema.steps[0].statements:
                assert isinstance(statement, str)
                conn.execute(statement)
        if with_new_columns:
            conn.execute("ALTER TABLE journal ADD COLUMN session TEXT")
        conn.execute(
            "INSERT INTO journal (at, platform, method, path, query, request_headers, request_size, request_sha256, status,"
            " outcome, verdicts, duration_ms) VALUES ('2026-01-01T00:00:00.000+00:00', 'yxc', 'POST', '/yxc/coach', '', '{}',"
            " 0, '', 200, 'held', '[]', 1.0)"
        )
    assert any(isinstance(s, AddColumn) for s in schemas()[0].steps[1].statements)
    store = open_store(db)
    assert store.versions()["journal"] == 4
    from harness.journal import Journal

    (entry,) = Journal(store).query(limit=None)
    assert entry["session"] is None and entry["origin"] is None and entry["path"] == "/yxc/coach"
    assert entry["reply_wire"] is None  # rows older than step 3: the wire bytes were reply_body's
    store.close()


def test_the_journal_keeps_session_and_origin(store_target: str) -> None:
    from harness.journal import Journal, origin_of

    store = open_store(store_target)
    journal = Journal(store)
    assert origin_of({"x-harness-origin": " FUZZ "}) == "fuzz" and origin_of({"x-harness-origin": "anything"}) is None
    journal.record_now(Exchange("yxc", "POST", "/yxc/coach", "", {}, b"{}", session="abc", origin="fuzz"))
    journal.record_now(Exchange("yxc", "POST", "/yxc/coach", "", {}, b"{}"))
    assert [e["session"] for e in journal.query(session="abc")] == ["abc"]
    assert [e["origin"] for e in journal.query(origin="fuzz")] == ["fuzz"]
    assert [e["origin"] for e in journal.query(origin="none")] == [None]
    assert journal.max_id() == 2
    store.close()


def test_the_journal_keeps_what_was_meant_and_what_was_sent(store_target: str) -> None:
    """An encrypted or binary reply: the document as JSON text, the wire bytes (within BODY_KEEP_BYTES) and their digest."""
    import base64
    import hashlib

    from harness.journal import Journal

    store = open_store(store_target)
    plain, wire = b'{"code":0,"msg":"ok"}', b"\x00\x9f encrypted \xff"
    sealed = _exchange(1)
    sealed.sent(wire, plain, keep_wire=True)
    same = _exchange(2)
    same.sent(plain)
    formed = _exchange(3)
    formed.sent(plain + b" ", plain)  # a journal form: the digest proves the wire, which is rebuilt from what it names
    journal = Journal(store)
    for exchange in (sealed, same, formed):
        journal.record_now(exchange)
    first, second, third = sorted(journal.query(limit=None), key=lambda e: e["id"])
    assert first["reply"] == {"code": 0, "msg": "ok"} and base64.b64decode(first["reply_wire"]) == wire
    assert first["reply_sha256"] == hashlib.sha256(wire).hexdigest()
    assert second["reply_wire"] is None and second["reply_sha256"] == hashlib.sha256(plain).hexdigest()
    assert third["reply_wire"] is None and third["reply_sha256"] == hashlib.sha256(plain + b" ").hexdigest()
    store.close()


def test_warnings_are_found_by_the_cli_and_the_control_api(tmp_path: Path) -> None:
    """An exchange whose only failed verdicts are SHOULD has the outcome ``warning``; the console filters on it, and so
    do ``harness journal --verdict warning`` and ``GET /_harness/journal?verdict=warning``."""
    import json

    import httpx
    from click.testing import CliRunner

    from harness.cli import main
    from harness.config import Settings
    from harness.rules import Verdict
    from harness.server import create_app

    store = open_store(tmp_path / "h.db")
    commit = LoopGroupCommit(store)

    async def record() -> None:
        for i, (held, level) in enumerate([(True, "MUST"), (False, "SHOULD"), (False, "MUST")]):
            exchange = _exchange(i)
            exchange.verdicts = [Verdict("R-1", "clause", held, "" if held else "broke it", level=level)]
            await commit.record(exchange)

    asyncio.run(record())
    run = CliRunner().invoke(main, ["journal", "--db", str(tmp_path / "h.db"), "--verdict", "warning", "--json"])
    assert run.exit_code == 0, run.output
    assert [json.loads(line)["outcome"] for line in run.output.splitlines()] == ["warning"]

    async def get() -> httpx.Response:
        app = create_app(Settings(db=store.path), store)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://harness.test") as http:
            return await http.get("/_harness/journal", params={"verdict": "warning"})

    reply = asyncio.run(get())
    assert reply.status_code == 200, reply.text
    assert [e["outcome"] for e in reply.json()["entries"]] == ["warning"]
    store.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_rule_is_found_whatever_case_it_is_asked_in_on_either_engine(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from harness.rules import Verdict

    store = open_store(request.getfixturevalue("pg_url") if engine == "postgresql" else tmp_path / "h.db")
    commit = LoopGroupCommit(store)

    async def record() -> None:
        exchange = _exchange(0)
        exchange.verdicts = [Verdict("BODY-SIZE", "harness limit", False, "too large")]
        await commit.record(exchange)

    asyncio.run(record())
    journal = Journal(store)
    assert len(journal.query(rule="BODY-SIZE")) == len(journal.query(rule="body-size")) == 1
    store.close()
