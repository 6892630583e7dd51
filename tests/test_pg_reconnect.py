"""The PostgreSQL store survives a lost connection (a database restart, a proxy or ``pg_terminate_backend`` dropping
it): every raw connection comes from the handle's pool, a lost one is given back and replaced, and what is retried
on the fresh one is only what cannot have committed (docs/scale-out.md, "Lost connections").

Real cluster, no mocks: the connections are dropped by terminating every other backend of the test's own database
(a database per test, so that no other test's handle is touched)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures import dudu as fx
from harness.journal import Exchange, Journal
from harness.schema import open_store
from harness.store_pg import POOL_MAX, RECONNECT_WAIT, PostgresStore
from tests.test_scale_out import Pinned, serving

_names = itertools.count(1)
TERMINATE = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


@pytest.fixture
def db_url(postgres_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of its own (dropped afterwards), so that terminating its backends touches nothing else."""
    import psycopg

    monkeypatch.setenv("HARNESS_SEAL_KEY", "dGVzdHMtb24tcG9zdGdyZXNxbC1zZWFsaW5nLWtleSE")
    name = f"reconnect_{os.getpid()}_{next(_names)}"
    admin = f"postgresql://harness@127.0.0.1:{postgres_server.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"postgresql://harness@127.0.0.1:{postgres_server.port}/{name}"
    postgres_server.drop([name])


def terminate(url: str) -> int:
    """End every other session on the URL's database, as a restart or a proxy would (and wait until they are gone);
    returns how many."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        pids = [pid for pid, done in conn.execute(TERMINATE.replace("SELECT ", "SELECT pid, ", 1)).fetchall() if done]
        deadline = time.monotonic() + 5
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()[0]:
            assert time.monotonic() < deadline, "backends still there after pg_terminate_backend"
            time.sleep(0.02)
    return len(pids)


def backends(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        # Client sessions only: an autovacuum worker analysing the fresh database's new tables also has its datname
        sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        return conn.execute(sql).fetchone()[0]


def _open(url: str) -> PostgresStore:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    store.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    return store


def test_queries_and_transactions_work_again_after_the_backends_are_terminated(db_url: str) -> None:
    """A read after the connection was dropped is answered (retried once on a fresh connection: a read cannot have
    changed anything); so is a write transaction whose first round trip found the connection gone (its BEGIN travels
    with that round trip, so nothing of it can have committed); data_version keeps working."""
    store = _open(db_url)
    try:
        store.execute("INSERT INTO probe (v) VALUES (?)", ("before",))
        version = store.data_version()
        assert terminate(db_url) >= 1
        assert [r["v"] for r in store.query("SELECT v FROM probe")] == ["before"]
        assert terminate(db_url) >= 1
        assert store.execute("INSERT INTO probe (v) VALUES (?)", ("after",)) == 2  # lastrowid, on the new connection
        assert terminate(db_url) >= 1
        assert store.data_version() == version  # only this handle wrote
        with store.transaction() as conn:
            conn.execute("UPDATE probe SET v = ? WHERE id = ?", ("again", 1))
        assert [r["v"] for r in store.query("SELECT v FROM probe ORDER BY id")] == ["again", "after"]
    finally:
        store.close()


def test_a_transaction_under_way_fails_once_and_is_never_sent_again(db_url: str) -> None:
    """The connection is lost after a transaction's first statement was sent: the transaction fails with the store's
    error (sqlite3.OperationalError, one line), its write is not committed nor replayed, and the handle's next
    transaction works. The same for a COMMIT that found the connection gone: never sent again."""
    store = _open(db_url)
    try:
        with pytest.raises(sqlite3.OperationalError) as lost, store.transaction() as conn:
            conn.execute("INSERT INTO probe (v) VALUES (?)", ("lost-1",))
            terminate(db_url)
            conn.execute("INSERT INTO probe (v) VALUES (?)", ("lost-2",))
        assert "\n" not in str(lost.value)
        with pytest.raises(sqlite3.OperationalError), store.transaction() as conn:
            conn.execute("INSERT INTO probe (v) VALUES (?)", ("lost-3",))
            terminate(db_url)  # the COMMIT that follows finds the connection gone
        store.execute("INSERT INTO probe (v) VALUES (?)", ("kept",))
        assert [r["v"] for r in store.query("SELECT v FROM probe")] == ["kept"]
    finally:
        store.close()


def test_connections_come_from_one_pool_per_handle(db_url: str) -> None:
    """new_connection() takes from the handle's pool and close() gives back: a hundred short-lived readers (the
    console's way) open no new backend; a dead idle connection in the pool is replaced when taken (the pool's check)."""
    store = _open(db_url)
    try:
        conn = store.new_connection()
        conn.execute("SELECT 1").fetchone()
        conn.close()
        before = backends(db_url)
        assert 2 <= before <= POOL_MAX
        for _ in range(100):
            conn = store.new_connection()
            assert conn.execute("SELECT count(*) FROM probe").fetchone()[0] == 0
            conn.close()
        assert backends(db_url) == before
        terminate(db_url)  # the idle one in the pool and the handle's own
        conn = store.new_connection()
        try:
            assert conn.execute("SELECT count(*) FROM probe").fetchone()[0] == 0
        finally:
            conn.close()
        assert store.query_one("SELECT count(*) FROM probe")[0] == 0
    finally:
        store.close()
    # Closing the handle closes its pool; a backend leaves pg_stat_activity a moment after its client hung up, later on a
    # busy machine: wait for it (bounded) rather than read the view once.
    deadline = time.monotonic() + 10
    while backends(db_url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backends(db_url) == 0


def test_the_journal_writer_thread_survives_a_lost_connection(db_url: str) -> None:
    """The Journal's background writer keeps its pooled connection; after the backends are terminated the next batch
    is written on a fresh one and the thread goes on."""
    store = _open(db_url)
    journal = Journal(store)
    journal.start()

    async def record(n: int) -> list[int]:
        ids = []
        for _ in range(n):
            exchange = Exchange("dudu", "POST", "/dudu/location_report", "", {}, b"{}", status=200)
            ids.append(await asyncio.wait_for(journal.record(exchange), 30))  # a dead writer would never answer
        return ids

    try:
        first = asyncio.run(record(3))
        terminate(db_url)
        second = asyncio.run(record(3))
        assert second[0] > first[-1]
        assert journal._thread is not None and journal._thread.is_alive()
        assert len(journal.query(limit=None)) == 6
    finally:
        journal.stop()
        store.close()


def _answered(conn: Pinned, req_ids: list[str]) -> list[str]:
    """One heartbeat per ``req_id`` over ``conn``, each answered 0; the ids acknowledged."""
    for req_id in req_ids:
        reply = conn.post("/dudu/location_report", fx.heartbeat(req_id=req_id))
        assert reply["ret_code"] == 0, reply
    return req_ids


def test_serve_answers_heartbeats_again_after_the_backends_are_terminated(db_url: str) -> None:
    """`harness serve --store URL`: DUDU heartbeats (sent one after another, and from four threads at once) go on
    being answered while every backend of the database is terminated, twice, without restarting the server: an
    exchange in flight at that moment may be refused with DUDU's own system-error envelope (HTTP 200, ret_code 1099;
    never a 500), the next ones are answered, and every acknowledged heartbeat is in the journal."""
    store = open_store(db_url)
    fx.world(store)
    store.close()
    acked: list[str] = []
    refused: list[dict[str, Any]] = []
    with serving(db_url) as (proc, port):
        one = Pinned(port)
        try:
            acked += _answered(one, [f"seq-{i}" for i in range(3)])
            terminate(db_url)
            acked += _answered(one, [f"seq-{i}" for i in range(3, 6)])  # nothing was in flight: every one is answered
        finally:
            one.close()

        stop = threading.Event()
        lock = threading.Lock()
        problems: list[Any] = []

        def beat(worker: int) -> None:
            conn = Pinned(port)
            try:
                for i in itertools.count():
                    if stop.is_set():
                        return
                    req_id = f"w{worker}-{i}"
                    status, reply = conn.request("POST", "/dudu/location_report", json.dumps(fx.heartbeat(req_id=req_id)).encode())
                    with lock:
                        if status != 200 or not isinstance(reply, dict):
                            problems.append((status, reply))
                        elif reply.get("ret_code") == 0:
                            acked.append(req_id)
                        else:
                            refused.append(reply)
            finally:
                conn.close()

        threads = [threading.Thread(target=beat, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        try:
            for _ in range(2):
                time.sleep(0.5)
                terminate(db_url)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert problems == []
        assert all(r["ret_code"] == 1099 for r in refused), refused  # DUDU's system error (ErrorKind.INTERNAL)
        assert len(refused) <= 2 * 4, refused  # at most the exchanges in flight at each termination
        one = Pinned(port)
        try:
            acked += _answered(one, [f"after-{i}" for i in range(3)])
        finally:
            one.close()
        assert proc.poll() is None
    store = open_store(db_url)
    try:
        journaled = {json.loads(e["request_body"])["req_id"] for e in Journal(store).query(platform="dudu", limit=None) if e["code"] == "0"}
    finally:
        store.close()
    assert len(acked) > 20
    assert set(acked) <= journaled


def test_an_outage_is_answered_in_the_platforms_envelope_and_ends_by_itself(db_url: str, postgres_server: Any) -> None:
    """While the database refuses every connection (ALLOW_CONNECTIONS false, its sessions terminated: an outage of
    this database only), heartbeats, plain and through a certification session's base path, are answered with DUDU's
    system-error envelope (HTTP 200, ret_code 1099; never a 500) within a few seconds; once connections are allowed
    again, the same server answers them without a restart."""
    import psycopg
    from click.testing import CliRunner

    from harness.cli import main

    store = open_store(db_url)
    fx.world(store)
    store.close()
    started = CliRunner().invoke(main, ["certify", "start", "dudu-device-backend", "--enterprise", fx.ENTERPRISE, "--store", db_url])
    assert started.exit_code == 0, started.output
    session = started.output.strip().splitlines()[-1]
    name = db_url.rsplit("/", 1)[-1]
    admin = f"postgresql://harness@127.0.0.1:{postgres_server.port}/postgres"
    paths = ("/dudu/location_report", f"/_session/{session}/dudu/location_report")
    body = json.dumps(fx.heartbeat()).encode()
    with serving(db_url) as (proc, port):
        one = Pinned(port)
        try:
            for path in paths:
                status, reply = one.request("POST", path, body)
                assert (status, reply["ret_code"]) == (200, 0), reply
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
                conn.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            try:
                for path in paths:
                    began = time.monotonic()
                    status, reply = one.request("POST", path, body)
                    assert status == 200 and reply["ret_code"] == 1099, (path, status, reply)
                    assert time.monotonic() - began < 9
                began = time.monotonic()  # later ones are refused at once, not after another reconnect wait each
                for _ in range(5):
                    status, reply = one.request("POST", paths[0], body)
                    assert status == 200 and reply["ret_code"] == 1099, reply
                assert time.monotonic() - began < RECONNECT_WAIT * 2, "each request waited for a reconnect of its own"
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
            deadline = time.monotonic() + 30
            for path in paths:
                while True:
                    status, reply = one.request("POST", path, body)
                    assert status == 200 and reply["ret_code"] in (0, 1099), reply
                    if reply["ret_code"] == 0:
                        break
                    assert time.monotonic() < deadline, "the server did not recover after the outage"
                    time.sleep(0.2)
        finally:
            one.close()
        assert proc.poll() is None
